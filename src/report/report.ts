import type { MetadataRepo } from '../ports/metadata-repo.js';
import { sumTotals } from '../observability/traffic-recorder.js';
import { DAY_MS, pullsAvoided, type TrafficTotal } from '../ports/traffic.js';

export type ReportBy = 'image' | 'principal' | 'upstream';

export interface ReportRow {
  /** The image (repository), principal ('anonymous' for none) or upstream. */
  key: string;
  /** Manifest GETs. */
  pulls: number;
  /** Manifest GETs answered with no upstream GET (Docker Hub pulls avoided, for docker.io). */
  pullsAvoided: number;
  /** Body bytes sent to clients. */
  bytesServed: number;
  /** Body bytes that came from the upstream (sent as they arrived). */
  bytesFetched: number;
  /** Body bytes sent from the store: what the upstream did not have to send. */
  bytesSaved: number;
}

export interface Report {
  since: string;
  until: string;
  by: ReportBy;
  rows: ReportRow[];
  total: ReportRow;
}

const GROUP = { image: 'repository', principal: 'principal', upstream: 'upstream' } as const;

/** `30d`, `12h`, `2w` or an ISO date: the start of the report (ms since the epoch). */
export function parseSince(input: string, now: number): number {
  const relative = /^(\d+)([hdw])$/.exec(input.trim());
  if (relative) {
    const unit = { h: DAY_MS / 24, d: DAY_MS, w: 7 * DAY_MS }[relative[2] as 'h' | 'd' | 'w'];
    return now - Number(relative[1]) * unit;
  }
  const at = Date.parse(input);
  if (Number.isNaN(at)) throw new RangeError(`--since: "${input}" is neither a duration (30d, 12h, 2w) nor a date (2026-11-01)`);
  return at;
}

export function parseReportBy(input: string): ReportBy {
  if (input === 'image' || input === 'principal' || input === 'upstream') return input;
  throw new RangeError(`--by: "${input}" must be image, principal or upstream`);
}

/** Pulls, bytes served and fetched, pulls avoided per image, principal or upstream since a time. */
/** Where traffic totals come from: the metadata store, or the running server's recorder (which flushes first). */
export type TrafficSource = Pick<MetadataRepo, 'trafficTotals'>;

export async function buildReport(traffic: TrafficSource, options: { since: number; by: ReportBy; now: number }): Promise<Report> {
  const totals = await traffic.trafficTotals({ since: options.since, by: GROUP[options.by] });
  const rows = totals.map((t) => row(options.by === 'principal' && t.key === '' ? 'anonymous' : t.key, t));
  rows.sort((a, b) => b.bytesServed - a.bytesServed || b.pulls - a.pulls || (a.key < b.key ? -1 : 1));
  return {
    since: new Date(options.since).toISOString(),
    until: new Date(options.now).toISOString(),
    by: options.by,
    rows,
    total: row('total', sumTotals(totals)),
  };
}

function row(key: string, t: TrafficTotal): ReportRow {
  return {
    key,
    pulls: t.pullHits + t.pullMisses + t.pullStale + t.pullCoalesced,
    pullsAvoided: pullsAvoided(t),
    bytesServed: t.bytesFromCache + t.bytesFromUpstream,
    bytesFetched: t.bytesFromUpstream,
    bytesSaved: t.bytesFromCache,
  };
}

const COLUMNS: Array<keyof ReportRow> = ['key', 'pulls', 'pullsAvoided', 'bytesServed', 'bytesFetched', 'bytesSaved'];

/** RFC 4180 CSV: a header line, one line per row, the total last. */
export function reportCsv(report: Report): string {
  const head = [report.by, ...COLUMNS.slice(1)];
  const lines = [head, ...[...report.rows, report.total].map((r) => COLUMNS.map((c) => String(r[c])))];
  return lines.map((cells) => cells.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

function csvCell(value: string): string {
  // A leading = + - @ would be a formula in a spreadsheet: quote-prefixed so it stays text.
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n']/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
