import type { Logger } from 'pino';
import type { CacheStatus } from '../core/types.js';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import {
  HOUR_MS,
  TRAFFIC_COUNTERS,
  zeroCounts,
  type TrafficCounts,
  type TrafficGroup,
  type TrafficRow,
  type TrafficTotal,
} from '../ports/traffic.js';

/** One manifest or blob response, as the request metrics saw it end. */
export interface ServedResponse {
  kind: 'manifest' | 'blob';
  method: string;
  outcome: CacheStatus;
  coalesced: boolean;
  /** Body bytes sent. */
  bytes: number;
  upstream: string;
  repository: string;
  /** '' for anonymous. */
  principal: string;
}

const FLUSH_EVERY_MS = 30_000;

/** The response counter and the pull counter of each outcome. */
const COUNTERS: Record<CacheStatus | 'coalesced', [keyof TrafficCounts, keyof TrafficCounts]> = {
  hit: ['hits', 'pullHits'],
  miss: ['misses', 'pullMisses'],
  stale: ['stale', 'pullStale'],
  coalesced: ['coalesced', 'pullCoalesced'],
};

/**
 * Counts what the mirror serves per hour, upstream, repository and principal, and adds it
 * to the metadata store in batches (every 30 s, and on close): a hit must not cost a write.
 * Readers flush first, so what they see includes the latest responses.
 */
export class TrafficRecorder {
  readonly #metadata: MetadataRepo;
  readonly #logger: Logger;
  readonly #now: () => number;
  #pending = new Map<string, TrafficRow>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(metadata: MetadataRepo, logger: Logger, now: () => number = Date.now) {
    this.#metadata = metadata;
    this.#logger = logger;
    this.#now = now;
  }

  record(r: ServedResponse): void {
    const now = this.#now();
    const hour = now - (now % HOUR_MS);
    const id = `${hour}\n${r.upstream}\n${r.repository}\n${r.principal}`;
    let row = this.#pending.get(id);
    if (!row) {
      row = { ...zeroCounts(), hour, upstream: r.upstream, repository: r.repository, principal: r.principal };
      this.#pending.set(id, row);
    }
    const outcome = r.coalesced ? 'coalesced' : r.outcome;
    const pull = r.kind === 'manifest' && r.method === 'GET';
    const [response, pulls] = COUNTERS[outcome];
    row[response]++;
    if (pull) row[pulls]++;
    // As /metrics counts bytes: a miss (coalesced too) streams what the upstream sends.
    if (r.outcome === 'miss') row.bytesFromUpstream += r.bytes;
    else row.bytesFromCache += r.bytes;
  }

  /** Writes what was counted since the last flush; one flush at a time, a failed batch is logged and dropped. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return;
      const rows = [...this.#pending.values()];
      this.#pending = new Map();
      try {
        await this.#metadata.addTraffic(rows);
      } catch (err) {
        this.#logger.warn({ err, rows: rows.length }, 'traffic counts could not be written; the dashboard history misses them');
      }
    });
    return this.#flushing;
  }

  async trafficTotals(options: { since: number; until?: number; by: TrafficGroup }): Promise<TrafficTotal[]> {
    await this.flush();
    return this.#metadata.trafficTotals(options);
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}

/** Sums totals into one (a report's last line). */
export function sumTotals(totals: readonly TrafficTotal[]): TrafficTotal {
  const sum: TrafficTotal = { key: '', ...zeroCounts() };
  for (const t of totals) for (const k of TRAFFIC_COUNTERS) sum[k] += t[k];
  return sum;
}
