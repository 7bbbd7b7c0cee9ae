import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { BlobBackend } from '../ports/blob-backend.js';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import { Evictor, type EvictionReport } from './evictor.js';
import { collectGarbage, type GcReport } from './gc.js';
import { verifyStore, type VerifyProgress, type VerifyReport } from './verify.js';

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
/** Temp files untouched this long belong to a dead fill. */
export const TEMP_MAX_AGE_MS = 60 * MINUTE;

export interface MaintenanceOptions {
  metadata: MetadataRepo;
  backend: BlobBackend;
  inUse: (digest: string) => boolean | Promise<boolean>;
  config: Readonly<Config>;
  logger: Logger;
  now?: () => number;
  /** Told of every real (not dry) eviction and GC run (metrics). */
  onEvicted?: (report: EvictionReport) => void;
  onCollected?: (report: GcReport) => void;
  /** Replicas sharing a store: whether this one runs the scheduled runs (absent: it always does). */
  leader?: { isLeader(): Promise<boolean>; release(): Promise<void> } | undefined;
}

/**
 * Eviction, garbage collection and verification of one store, one run of each kind at a
 * time (a run asked for while one is going joins it). `serve` schedules eviction and GC;
 * the CLI's `gc` and `verify` run them through the admin API or directly.
 */
export class Maintenance {
  readonly evictor: Evictor;
  readonly #opts: MaintenanceOptions;
  #eviction: Promise<EvictionReport> | undefined;
  #gc: Promise<GcReport> | undefined;
  #again = false;
  #timers: NodeJS.Timeout[] = [];

  constructor(opts: MaintenanceOptions) {
    this.#opts = opts;
    const cache = opts.config.cache;
    this.evictor = new Evictor({
      metadata: opts.metadata,
      backend: opts.backend,
      inUse: opts.inUse,
      policy: {
        maxSizeBytes: cache.maxSizeBytes,
        lowWaterRatio: cache.lowWaterPercent / 100,
        maxAgeMs: cache.maxAgeDays === undefined ? undefined : cache.maxAgeDays * DAY,
        protectRecentMs: cache.protectRecentMinutes * MINUTE,
      },
      logger: opts.logger,
      now: opts.now,
    });
  }

  /** Evicts what the policy says (a dry run only reports it). Runs one at a time. */
  evict(options: { dryRun: boolean } = { dryRun: false }): Promise<EvictionReport> {
    if (options.dryRun) return this.evictor.run(options);
    this.#eviction ??= this.evictor
      .run(options)
      .then((report) => {
        this.#opts.onEvicted?.(report);
        return report;
      })
      .finally(() => {
        this.#eviction = undefined;
        if (this.#again) {
          this.#again = false;
          this.evictSoon();
        }
      });
    return this.#eviction;
  }

  /** After a blob was stored: evicts if the cap is passed (a run already going runs once more after). */
  evictSoon(): void {
    if (this.#opts.config.cache.maxSizeBytes === undefined) return;
    if (this.#eviction) {
      this.#again = true;
      return;
    }
    void this.#led(() => this.evict()).catch((err: Error) => this.#opts.logger.error({ err: err.message }, 'eviction failed'));
  }

  /** A scheduled run: only on the leader when replicas share the store. */
  async #led<T>(run: () => Promise<T>): Promise<T | undefined> {
    const leader = this.#opts.leader;
    if (leader && !(await leader.isLeader())) return undefined;
    return run();
  }

  gc(options: { dryRun: boolean }): Promise<GcReport> {
    const run = () =>
      collectGarbage(
        {
          metadata: this.#opts.metadata,
          backend: this.#opts.backend,
          inUse: this.#opts.inUse,
          graceMs: this.#opts.config.cache.gcGraceMinutes * MINUTE,
          tempMaxAgeMs: TEMP_MAX_AGE_MS,
          logger: this.#opts.logger,
          now: this.#opts.now,
        },
        options,
      );
    if (options.dryRun) return run();
    this.#gc ??= run()
      .then((report) => {
        this.#opts.onCollected?.(report);
        return report;
      })
      .finally(() => (this.#gc = undefined));
    return this.#gc;
  }

  verify(options: { repair: boolean; onProgress?: (p: VerifyProgress) => void }): Promise<VerifyReport> {
    return verifyStore({ metadata: this.#opts.metadata, backend: this.#opts.backend, inUse: this.#opts.inUse, logger: this.#opts.logger }, options);
  }

  /** The server's schedule: eviction every evictEverySeconds when a cap or age limit is set, GC every gcEveryMinutes. */
  schedule(): void {
    const { cache } = this.#opts.config;
    const log = (what: string) => (err: Error) => this.#opts.logger.error({ err: err.message }, `${what} failed`);
    if (this.evictor.enabled) {
      this.#timers.push(setInterval(() => void this.#led(() => this.evict()).catch(log('eviction')), cache.evictEverySeconds * 1000));
      void this.#led(() => this.evict()).catch(log('eviction'));
    }
    if (cache.gcEveryMinutes > 0)
      this.#timers.push(
        setInterval(() => void this.#led(() => this.gc({ dryRun: false })).catch(log('garbage collection')), cache.gcEveryMinutes * MINUTE),
      );
    for (const timer of this.#timers) timer.unref();
  }

  /** Stops the schedule and waits for runs in progress. */
  async stop(): Promise<void> {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    await Promise.allSettled([this.#eviction, this.#gc]);
    await this.#opts.leader?.release();
  }
}
