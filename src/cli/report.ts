import { buildReport, parseReportBy, parseSince, reportCsv, type Report } from '../report/report.js';
import { configFrom, parseCommand, STORE_OPTIONS, UsageError } from './common.js';
import { onMetadata } from './data-dir.js';
import { formatBytes } from './progress.js';

const print = (line: string) => process.stdout.write(`${line}\n`);

/**
 * `cargohold report [--since 30d] [--by image|principal|upstream] [--json|--csv]`: pulls,
 * bytes served and fetched, and pulls avoided, from the traffic history in the metadata
 * store (through the running server, which adds what it has not written yet).
 */
export async function reportCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    ...STORE_OPTIONS,
    since: { type: 'string' },
    by: { type: 'string' },
    json: { type: 'boolean' },
    csv: { type: 'boolean' },
  });
  if (positionals.length > 0) throw new UsageError('report takes no arguments');
  if (values.json === true && values.csv === true) throw new UsageError('give --json or --csv, not both');
  const now = Date.now();
  let since: number;
  let by;
  try {
    since = parseSince((values.since as string | undefined) ?? '30d', now);
    by = parseReportBy((values.by as string | undefined) ?? 'image');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const report: Report = await onMetadata(configFrom(values, env), {
    remote: (client) => client.report(since, by),
    local: (metadata) => buildReport(metadata, { since, by, now }),
  });
  if (values.json === true) print(JSON.stringify(report));
  else if (values.csv === true) process.stdout.write(reportCsv(report));
  else printTable(report);
  return 0;
}

function printTable(report: Report): void {
  print(`traffic by ${report.by}, ${report.since} to ${report.until}`);
  const rows = [...report.rows, report.total].map((r) => [
    r.key,
    String(r.pulls),
    String(r.pullsAvoided),
    formatBytes(r.bytesServed),
    formatBytes(r.bytesFetched),
    formatBytes(r.bytesSaved),
  ]);
  const head = [report.by, 'pulls', 'avoided', 'served', 'fetched', 'saved'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  print(line(head));
  for (const r of rows) print(line(r));
}
