import { Card, Layout, type PageContext } from '../layout.js';
import { TrafficChart } from '../chart.js';
import { formatAgo, formatBytes, formatRatio } from '../format.js';
import type { HistoryBucket, Overview } from '../source.js';

export function OverviewPage(props: { ctx: PageContext; overview: Overview; history: HistoryBucket[]; range: '48h' | '30d' }) {
  const { overview: o, ctx } = props;
  const inv = o.inventory;
  return (
    <Layout title="Overview" path="/" ctx={ctx}>
      <div class="cards">
        <Card title="Store" id="store">
          <p class="big" data-testid="store-bytes">
            {formatBytes(inv.bytes)}
            {o.maxSizeBytes !== undefined ? <span class="muted"> of {formatBytes(o.maxSizeBytes)}</span> : <span class="muted"> (no cap)</span>}
          </p>
          {o.maxSizeBytes !== undefined ? <meter min={0} max={o.maxSizeBytes} high={o.maxSizeBytes * 0.9} value={inv.bytes}></meter> : null}
          <dl>
            <dt>blobs</dt>
            <dd data-testid="store-blobs">{inv.blobs}</dd>
            <dt>images (tags)</dt>
            <dd data-testid="store-tags">{inv.tags}</dd>
            <dt>repositories</dt>
            <dd>{inv.repositories}</dd>
            <dt>manifests</dt>
            <dd>{inv.manifests}</dd>
            <dt>pinned</dt>
            <dd>{o.pins}</dd>
          </dl>
        </Card>
        <Card title="Hit ratio" id="hit-ratio">
          <dl>
            {o.periods.map((p) => (
              <>
                <dt>{p.label}</dt>
                <dd data-testid={`hit-ratio-${p.label.replace(' ', '')}`}>{formatRatio(p.hitRatio)}</dd>
              </>
            ))}
          </dl>
          <p class="muted">hits and stale serves over every manifest and blob response</p>
        </Card>
        <Card title="Saved" id="saved">
          <dl>
            {o.periods.map((p) => (
              <>
                <dt>{p.label}</dt>
                <dd>
                  <span data-testid={`saved-${p.label.replace(' ', '')}`}>{formatBytes(p.totals.bytesFromCache)}</span> from cache,{' '}
                  {formatBytes(p.totals.bytesFromUpstream)} fetched; <span data-testid={`avoided-${p.label.replace(' ', '')}`}>{p.pullsAvoided}</span>{' '}
                  pulls avoided
                </dd>
              </>
            ))}
          </dl>
          <p class="muted">a pull avoided: a manifest GET answered with no upstream GET (what Docker Hub counts against its rate limit)</p>
        </Card>
      </div>
      <Card title="Upstreams" id="upstreams">
        <table>
          <thead>
            <tr>
              <th>upstream</th>
              <th>last success</th>
              <th>last error</th>
              <th>rate limit</th>
              <th>30 days: fetched</th>
              <th>from cache</th>
              <th>pulls avoided</th>
              <th>stale serves</th>
            </tr>
          </thead>
          <tbody>
            {o.upstreams.map((u) => (
              <tr data-upstream={u.name}>
                <td>{u.name}</td>
                <td>{formatAgo(u.health.lastSuccessAt, ctx.now)}</td>
                <td>{u.health.lastErrorAt ? `${formatAgo(u.health.lastErrorAt, ctx.now)}: ${u.health.lastError ?? ''}` : 'none'}</td>
                <td>
                  {!u.rateLimit
                    ? 'not configured'
                    : u.rateLimit.blocked
                      ? `blocked for ${u.rateLimit.blockedForSeconds} s (${u.rateLimit.reason ?? ''})`
                      : u.rateLimit.remaining === null
                        ? 'not reported'
                        : `${u.rateLimit.remaining} of ${u.rateLimit.limit ?? '?'} left`}
                </td>
                <td>{formatBytes(u.bytesFetched)}</td>
                <td>{formatBytes(u.bytesFromCache)}</td>
                <td>{u.pullsAvoided}</td>
                <td>{u.staleServes}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Card>
      <Card title={props.range === '48h' ? 'Pulls per hour, last 48 hours' : 'Pulls per day, last 30 days'} id="history">
        <p>
          <a href="/?range=48h" class={props.range === '48h' ? 'active' : undefined}>
            48 hours
          </a>{' '}
          ·{' '}
          <a href="/?range=30d" class={props.range === '30d' ? 'active' : undefined}>
            30 days
          </a>
        </p>
        <TrafficChart buckets={props.history} unit={props.range === '48h' ? 'hour' : 'day'} />
      </Card>
    </Layout>
  );
}
