import { DAY_MS, TRAFFIC_COUNTERS, type TrafficGroup } from '../ports/traffic.js';

/** The traffic table's counter columns (SQLite 006_traffic.sql, PostgreSQL 002_traffic.sql). */
export const TRAFFIC_COLUMNS: Record<(typeof TRAFFIC_COUNTERS)[number], string> = {
  hits: 'hits',
  misses: 'misses',
  stale: 'stale',
  coalesced: 'coalesced',
  pullHits: 'pull_hits',
  pullMisses: 'pull_misses',
  pullStale: 'pull_stale',
  pullCoalesced: 'pull_coalesced',
  bytesFromCache: 'bytes_from_cache',
  bytesFromUpstream: 'bytes_from_upstream',
};

/** The group key as SQL (the same in SQLite and PostgreSQL), from a fixed list: never built from input. */
const GROUP_KEYS: Record<TrafficGroup, string> = {
  total: "''",
  hour: 'CAST(hour AS TEXT)',
  day: `CAST(hour - hour % ${DAY_MS} AS TEXT)`,
  upstream: 'upstream',
  repository: 'repository',
  principal: 'principal',
};

const SUMS = TRAFFIC_COUNTERS.map((k) => `COALESCE(SUM(${TRAFFIC_COLUMNS[k]}), 0) AS "${k}"`).join(', ');

/** Adds a row's counts to its (hour, upstream, repository, principal); `param(i)` writes the i-th placeholder (0-based: hour, upstream, repository, principal, then the counters). */
export function trafficAddSql(param: (i: number) => string): string {
  const names = TRAFFIC_COUNTERS.map((k) => TRAFFIC_COLUMNS[k]);
  const values = Array.from({ length: 4 + names.length }, (_, i) => param(i));
  return `INSERT INTO traffic (hour, upstream, repository, principal, ${names.join(', ')}) VALUES (${values.join(', ')})
    ON CONFLICT (hour, upstream, repository, principal) DO UPDATE SET ${names.map((n) => `${n} = traffic.${n} + excluded.${n}`).join(', ')}`;
}

/** Sums from hour `param(0)` (inclusive) to `param(1)` (exclusive); hours and days in time order, names in code-point order, total one row. */
export function trafficTotalsSql(by: TrafficGroup, param: (i: number) => string): string {
  const key = GROUP_KEYS[by];
  const range = `WHERE hour >= ${param(0)} AND hour < ${param(1)}`;
  if (by === 'total') return `SELECT '' AS "key", ${SUMS} FROM traffic ${range}`;
  const order = by === 'hour' || by === 'day' ? 'MIN(hour)' : '"key"';
  return `SELECT ${key} AS "key", ${SUMS} FROM traffic ${range} GROUP BY ${key} ORDER BY ${order}`;
}

/** The values of a row for trafficAddSql, in its placeholder order. */
export function trafficAddValues(
  row: { hour: number; upstream: string; repository: string; principal: string } & Record<(typeof TRAFFIC_COUNTERS)[number], number>,
): unknown[] {
  return [row.hour, row.upstream, row.repository, row.principal, ...TRAFFIC_COUNTERS.map((k) => row[k])];
}
