import { SingleFlight } from '../util/single-flight.js';
import { isTagFresh } from './policy.js';

export interface TtlCacheOptions {
  ttlSeconds: number;
  /** Keys kept at most; the oldest stored goes first (memory stays bounded whatever clients ask). */
  maxEntries: number;
  now: () => number;
}

/**
 * Upstream answers kept in memory for a TTL (tag lists, referrers): one fetch per key at a
 * time, shared by every caller asking meanwhile; a failed fetch stores nothing.
 */
export class TtlCache<T> {
  readonly #entries = new Map<string, { value: T; fetchedAt: number }>();
  readonly #flights = new SingleFlight<T>();
  readonly #opts: TtlCacheOptions;

  constructor(opts: TtlCacheOptions) {
    this.#opts = opts;
  }

  async get(key: string, fetch: () => Promise<T>): Promise<T> {
    const entry = this.#entries.get(key);
    if (entry && isTagFresh(entry.fetchedAt, this.#opts.now(), this.#opts.ttlSeconds)) return entry.value;
    return this.#flights.run(key, async () => {
      const value = await fetch();
      this.#entries.delete(key); // re-inserted last: the Map's order is the age order
      this.#entries.set(key, { value, fetchedAt: this.#opts.now() });
      for (const oldest of this.#entries.keys()) {
        if (this.#entries.size <= this.#opts.maxEntries) break;
        this.#entries.delete(oldest);
      }
      return value;
    });
  }
}
