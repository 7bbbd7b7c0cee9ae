import type { Statement } from 'better-sqlite3';
import { HOUR_MS, type TrafficGroup, type TrafficRow, type TrafficTotal } from '../ports/traffic.js';
import type { Db } from './db.js';
import { trafficAddSql, trafficAddValues, trafficTotalsSql } from './traffic-sql.js';

/** The traffic table of the SQLite metadata store (migrations/006_traffic.sql). */
export class SqliteTraffic {
  readonly #db: Db;
  readonly #add: Statement;
  readonly #totals = new Map<TrafficGroup, Statement>();

  constructor(db: Db) {
    this.#db = db;
    this.#add = db.prepare(trafficAddSql(() => '?'));
  }

  add(rows: readonly TrafficRow[]): void {
    this.#db.transaction(() => {
      for (const row of rows) this.#add.run(...trafficAddValues({ ...row, hour: row.hour - (row.hour % HOUR_MS) }));
    })();
  }

  totals(since: number, until: number, by: TrafficGroup): TrafficTotal[] {
    let statement = this.#totals.get(by);
    if (!statement) {
      statement = this.#db.prepare(trafficTotalsSql(by, () => '?'));
      this.#totals.set(by, statement);
    }
    return statement.all(since - (since % HOUR_MS), until) as TrafficTotal[];
  }
}
