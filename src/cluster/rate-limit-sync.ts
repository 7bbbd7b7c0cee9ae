import type { Logger } from 'pino';
import type { Cluster } from '../ports/cluster.js';
import type { RateLimitState, RateLimitTracker } from '../upstream/rate-limit.js';

/** How often a replica reads the others' view of the quotas (and writes its headroom). */
const SYNC_EVERY_MS = 1000;

/**
 * Shares each upstream's pull quota between replicas: a block that starts or lifts on one
 * is written at once and taken by the others within a second; the headroom the last
 * response reported is written at most once a second. Versions keep a replica from taking
 * its own writes back.
 */
export class RateLimitSync {
  readonly #cluster: Cluster;
  readonly #trackers: ReadonlyMap<string, RateLimitTracker>;
  readonly #logger: Logger;
  readonly #seen = new Map<string, number>();
  readonly #published = new Map<string, number | undefined>();
  #timer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;

  constructor(cluster: Cluster, trackers: ReadonlyMap<string, RateLimitTracker>, logger: Logger) {
    this.#cluster = cluster;
    this.#trackers = trackers;
    this.#logger = logger;
    for (const [upstream, tracker] of trackers) tracker.onChange = (state) => void this.#publish(upstream, state);
  }

  start(): void {
    this.#timer = setInterval(() => void (this.#syncing ??= this.sync().finally(() => (this.#syncing = undefined))), SYNC_EVERY_MS);
    this.#timer.unref();
  }

  async #publish(upstream: string, state: Readonly<RateLimitState>, headroomOnly = false): Promise<void> {
    try {
      this.#published.set(upstream, state.remaining);
      const version = await this.#cluster.publishRateLimit({ upstream, ...state }, { headroomOnly });
      this.#seen.set(upstream, Math.max(version, this.#seen.get(upstream) ?? 0));
    } catch (err) {
      this.#logger.warn({ upstream, err: (err as Error).message }, 'cannot share the rate-limit state with the other replicas');
    }
  }

  /** One round: take what changed elsewhere, write the headroom that changed here. */
  async sync(): Promise<void> {
    try {
      for (const row of await this.#cluster.rateLimits()) {
        const tracker = this.#trackers.get(row.upstream);
        if (!tracker || row.version <= (this.#seen.get(row.upstream) ?? 0)) continue;
        this.#seen.set(row.upstream, row.version);
        this.#published.set(row.upstream, row.remaining);
        tracker.adopt(row);
      }
    } catch (err) {
      this.#logger.debug({ err: (err as Error).message }, 'cannot read the shared rate-limit state');
      return;
    }
    for (const [upstream, tracker] of this.#trackers) {
      const { remaining } = tracker.state;
      if (remaining !== undefined && remaining !== this.#published.get(upstream)) await this.#publish(upstream, tracker.state, true);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#syncing;
    for (const tracker of this.#trackers.values()) tracker.onChange = undefined;
  }
}
