import { DAY_MS, HOUR_MS, TRAFFIC_COUNTERS, zeroCounts, type TrafficGroup, type TrafficRow, type TrafficTotal } from '../ports/traffic.js';

/** The traffic rows of the in-memory metadata store, summed as SQLite sums them. */
export class MemoryTraffic {
  readonly #rows = new Map<string, TrafficRow>();

  add(rows: readonly TrafficRow[]): void {
    for (const row of rows) {
      const hour = row.hour - (row.hour % HOUR_MS);
      const id = JSON.stringify([hour, row.upstream, row.repository, row.principal]);
      const kept = this.#rows.get(id) ?? { ...zeroCounts(), hour, upstream: row.upstream, repository: row.repository, principal: row.principal };
      for (const k of TRAFFIC_COUNTERS) kept[k] += row[k];
      this.#rows.set(id, kept);
    }
  }

  totals(since: number, until: number, by: TrafficGroup): TrafficTotal[] {
    const from = since - (since % HOUR_MS);
    const groups = new Map<string, { order: number | string; total: TrafficTotal }>();
    if (by === 'total') groups.set('', { order: '', total: { key: '', ...zeroCounts() } });
    for (const row of this.#rows.values()) {
      if (row.hour < from || row.hour >= until) continue;
      const start = by === 'day' ? row.hour - (row.hour % DAY_MS) : row.hour;
      const key = by === 'total' ? '' : by === 'hour' || by === 'day' ? String(start) : row[by];
      const group = groups.get(key) ?? { order: by === 'hour' || by === 'day' ? start : key, total: { key, ...zeroCounts() } };
      for (const k of TRAFFIC_COUNTERS) group.total[k] += row[k];
      groups.set(key, group);
    }
    return [...groups.values()]
      .sort((a, b) => (typeof a.order === 'number' && typeof b.order === 'number' ? a.order - b.order : String(a.order) < String(b.order) ? -1 : 1))
      .map((g) => g.total);
  }
}
