import type { Logger } from 'pino';
import { forgetThenDelete } from './forget-then-delete.js';
import type { BlobBackend } from '../ports/blob-backend.js';
import type { AccessCursor, MetadataRepo } from '../ports/metadata-repo.js';

/** How big and how old the cache may grow. */
export interface EvictionPolicy {
  /** Evict when the recorded blobs exceed this; undefined: no size cap. */
  maxSizeBytes: number | undefined;
  /** Evict down to this fraction of maxSizeBytes (a low-water mark, so one new blob does not evict at every fill). */
  lowWaterRatio: number;
  /** Blobs not accessed for this long go whatever the size; undefined: no age limit. */
  maxAgeMs: number | undefined;
  /** The blobs of manifests accessed this recently are kept (an image being pulled right now). */
  protectRecentMs: number;
}

export interface EvictionReport {
  dryRun: boolean;
  before: { blobs: number; bytes: number };
  evicted: number;
  evictedBytes: number;
  /** Candidates kept because a client was reading them. */
  skippedInUse: number;
  after: { blobs: number; bytes: number };
}

export interface EvictorOptions {
  metadata: MetadataRepo;
  backend: BlobBackend;
  /** True while a blob is being read or filled: never deleted then. */
  inUse: (digest: string) => boolean | Promise<boolean>;
  policy: EvictionPolicy;
  logger: Logger;
  now?: () => number;
}

const PAGE = 256;

/**
 * Keeps the cache within its size cap and age limit: least recently pulled blobs go first,
 * down to the low-water mark. Pinned images, the blobs of manifests pulled within the last
 * few minutes and blobs being read are never evicted; manifests and tags stay (the next
 * pull fetches the missing layers again). Nothing here depends on the upstream, so an
 * upstream outage never costs the cache anything.
 */
export class Evictor {
  readonly #opts: EvictorOptions;
  readonly #now: () => number;

  constructor(opts: EvictorOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  get policy(): EvictionPolicy {
    return this.#opts.policy;
  }

  /** True when the policy can ever evict anything. */
  get enabled(): boolean {
    return this.#opts.policy.maxSizeBytes !== undefined || this.#opts.policy.maxAgeMs !== undefined;
  }

  async run(options: { dryRun: boolean } = { dryRun: false }): Promise<EvictionReport> {
    const { metadata, backend, inUse, policy, logger } = this.#opts;
    await metadata.flushAccessTimes(); // eviction orders by access times: the latest ones count
    const before = await metadata.storeUsage();
    const now = this.#now();
    const ageCutoff = policy.maxAgeMs === undefined ? Number.NEGATIVE_INFINITY : now - policy.maxAgeMs;
    const target = policy.maxSizeBytes === undefined ? Number.POSITIVE_INFINITY : Math.floor(policy.maxSizeBytes * policy.lowWaterRatio);
    const overCap = policy.maxSizeBytes !== undefined && before.bytes > policy.maxSizeBytes;
    const report: EvictionReport = { dryRun: options.dryRun, before, evicted: 0, evictedBytes: 0, skippedInUse: 0, after: before };
    let bytes = before.bytes;
    let cursor: AccessCursor | undefined;
    for (;;) {
      const page = await metadata.evictionCandidates({ protectAccessedSince: now - policy.protectRecentMs, after: cursor, limit: PAGE });
      if (page.length === 0) break;
      for (const entry of page) {
        cursor = entry;
        const needSpace = overCap && bytes > target;
        // Candidates come oldest first: once neither space nor age calls for one, none after it does.
        if (!needSpace && entry.lastAccessAt >= ageCutoff) return this.#finish(report, options.dryRun);
        if (await inUse(entry.digest)) {
          report.skippedInUse++;
          continue;
        }
        if (!options.dryRun) {
          // The record first: no new reader finds the blob, then its bytes go.
          if (!(await forgetThenDelete(metadata, backend, inUse, entry.digest, logger))) {
            report.skippedInUse++;
            continue;
          }
          logger.debug({ digest: entry.digest, bytes: entry.size, lastAccessAt: new Date(entry.lastAccessAt).toISOString() }, 'evicted blob');
        }
        bytes -= entry.size;
        report.evicted++;
        report.evictedBytes += entry.size;
      }
    }
    return this.#finish(report, options.dryRun);
  }

  async #finish(report: EvictionReport, dryRun: boolean): Promise<EvictionReport> {
    report.after = dryRun
      ? { blobs: report.before.blobs - report.evicted, bytes: report.before.bytes - report.evictedBytes }
      : await this.#opts.metadata.storeUsage();
    if (report.evicted > 0 || report.skippedInUse > 0) {
      this.#opts.logger.info(
        { dryRun, evicted: report.evicted, evictedBytes: report.evictedBytes, skippedInUse: report.skippedInUse, storeBytes: report.after.bytes },
        dryRun ? 'eviction (dry run)' : 'evicted least recently used blobs',
      );
    }
    return report;
  }
}
