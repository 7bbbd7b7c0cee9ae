import { Layout, type PageContext } from '../layout.js';
import { formatBytes } from '../format.js';
import type { Report } from '../../report/report.js';

export function ReportPage(props: { ctx: PageContext; report: Report; since: string }) {
  const { report } = props;
  const params = new URLSearchParams({ since: props.since, by: report.by });
  return (
    <Layout title="Report" path="/ui/report" ctx={props.ctx}>
      <form method="get" action="/ui/report" class="search">
        <label>
          since <input name="since" value={props.since} size={12} aria-label="since" />
        </label>{' '}
        <label>
          by{' '}
          <select name="by" aria-label="group by">
            {(['image', 'principal', 'upstream'] as const).map((by) => (
              <option value={by} selected={by === report.by}>
                {by}
              </option>
            ))}
          </select>
        </label>{' '}
        <button type="submit">Show</button> <a href={`/ui/report.csv?${params.toString()}`}>Download CSV</a>
      </form>
      <p class="muted">
        {report.since} to {report.until}
      </p>
      <table id="report">
        <thead>
          <tr>
            <th>{report.by}</th>
            <th>pulls</th>
            <th>pulls avoided</th>
            <th>bytes served</th>
            <th>fetched upstream</th>
            <th>saved (from cache)</th>
          </tr>
        </thead>
        <tbody>
          {[...report.rows, report.total].map((r) => (
            <tr class={r === report.total ? 'total' : undefined} data-key={r === report.total ? undefined : r.key}>
              <td>{r.key}</td>
              <td>{r.pulls}</td>
              <td>{r.pullsAvoided}</td>
              <td data-bytes={String(r.bytesServed)}>{formatBytes(r.bytesServed)}</td>
              <td>{formatBytes(r.bytesFetched)}</td>
              <td>{formatBytes(r.bytesSaved)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}
