import { Card, Layout, type PageContext } from '../layout.js';
import { formatAgo, formatBytes, formatRate, shortDigest } from '../format.js';
import type { NowState } from '../source.js';

/** The live part of the Now page: the script swaps it in every second. */
export function NowFragment(props: { ctx: PageContext; state: NowState }) {
  const { ctx, state } = props;
  return (
    <div>
      <Card title={`Fills in progress (${state.fills.length})`} id="fills">
        {state.fills.length === 0 ? (
          <p class="muted">none</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>blob</th>
                <th>for</th>
                <th>progress</th>
                <th>rate</th>
                <th>readers</th>
                <th>started</th>
              </tr>
            </thead>
            <tbody>
              {state.fills.map((f) => (
                <tr data-fill={f.digest}>
                  <td class="mono">{shortDigest(f.digest)}</td>
                  <td>{f.repository}</td>
                  <td>
                    {f.size ? <progress max={f.size} value={f.received}></progress> : null}{' '}
                    <span class="received" data-received={String(f.received)}>
                      {formatBytes(f.received)}
                    </span>
                    {f.size ? ` of ${formatBytes(f.size)}` : ''}
                    {f.fromReplica ? ' (streamed from the replica filling it)' : f.passThrough ? ' (not stored: storage failing)' : ''}
                  </td>
                  <td>{formatRate(f.bytesPerSecond)}</td>
                  <td class="readers">{f.readers}</td>
                  <td>{formatAgo(f.startedAt, ctx.now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <Card title="Recent requests" id="requests">
        <table>
          <thead>
            <tr>
              <th>when</th>
              <th>request</th>
              <th>status</th>
              <th>cache</th>
              <th>bytes</th>
              <th>ms</th>
              <th>who</th>
            </tr>
          </thead>
          <tbody>
            {state.requests.map((r) => (
              <tr>
                <td>{formatAgo(r.at, ctx.now)}</td>
                <td class="mono">{`${r.method} ${r.path}`}</td>
                <td>{r.status}</td>
                <td>{r.outcome ?? ''}</td>
                <td>{formatBytes(r.bytes)}</td>
                <td>{r.ms}</td>
                <td>{r.principal || 'anonymous'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      <Card title="Eviction and GC runs" id="maintenance">
        {state.maintenance.length === 0 ? (
          <p class="muted">none since the server started</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th>when</th>
                <th>run</th>
                <th>blobs removed</th>
                <th>bytes freed</th>
                <th>kept (in use)</th>
              </tr>
            </thead>
            <tbody>
              {state.maintenance.map((m) => (
                <tr>
                  <td>{formatAgo(m.at, ctx.now)}</td>
                  <td>{m.kind}</td>
                  <td>{m.blobs}</td>
                  <td>{formatBytes(m.bytes)}</td>
                  <td>{m.skippedInUse}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}

export function NowPage(props: { ctx: PageContext; state: NowState }) {
  return (
    <Layout title="Now" path="/ui/now" ctx={props.ctx}>
      <div data-live="/ui/fragments/now" data-every="1000">
        <NowFragment ctx={props.ctx} state={props.state} />
      </div>
    </Layout>
  );
}
