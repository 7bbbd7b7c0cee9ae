import type { Statement } from 'better-sqlite3';
import { DAY_MS, HOUR_MS, TRAFFIC_COUNTERS, type TrafficGroup, type TrafficRow, type TrafficTotal } from '../ports/traffic.js';
import type { Db } from './db.js';

const COLUMNS: Record<(typeof TRAFFIC_COUNTERS)[number], string> = {
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

/** The group key as SQL, from a fixed list: never built from input. */
const GROUP_KEYS: Record<TrafficGroup, string> = {
  total: "''",
  hour: 'CAST(hour AS TEXT)',
  day: `CAST(hour - hour % ${DAY_MS} AS TEXT)`,
  upstream: 'upstream',
  repository: 'repository',
  principal: 'principal',
};

const SUMS = TRAFFIC_COUNTERS.map((k) => `COALESCE(SUM(${COLUMNS[k]}), 0) AS ${k}`).join(', ');

/** The traffic table of the SQLite metadata store (migrations/006_traffic.sql). */
export class SqliteTraffic {
  readonly #db: Db;
  readonly #add: Statement;
  readonly #totals = new Map<TrafficGroup, Statement>();

  constructor(db: Db) {
    this.#db = db;
    const names = TRAFFIC_COUNTERS.map((k) => COLUMNS[k]);
    this.#add = db.prepare(
      `INSERT INTO traffic (hour, upstream, repository, principal, ${names.join(', ')})
       VALUES (@hour, @upstream, @repository, @principal, ${TRAFFIC_COUNTERS.map((k) => `@${k}`).join(', ')})
       ON CONFLICT(hour, upstream, repository, principal) DO UPDATE SET ${names.map((n) => `${n} = ${n} + excluded.${n}`).join(', ')}`,
    );
  }

  add(rows: readonly TrafficRow[]): void {
    this.#db.transaction(() => {
      for (const row of rows) this.#add.run({ ...row, hour: row.hour - (row.hour % HOUR_MS) });
    })();
  }

  totals(since: number, until: number, by: TrafficGroup): TrafficTotal[] {
    let statement = this.#totals.get(by);
    if (!statement) {
      const key = GROUP_KEYS[by];
      // Hour and day keys sort as numbers, names as text; total is one row, zeros when empty.
      const order = by === 'hour' || by === 'day' ? `MIN(hour)` : 'key';
      statement = this.#db.prepare(
        `SELECT ${key} AS key, ${SUMS} FROM traffic WHERE hour >= ? AND hour < ? ${by === 'total' ? '' : `GROUP BY ${key} ORDER BY ${order}`}`,
      );
      this.#totals.set(by, statement);
    }
    return statement.all(since - (since % HOUR_MS), until) as TrafficTotal[];
  }
}
