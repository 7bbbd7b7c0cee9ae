import type { Logger } from 'pino';
import type { LeaseHolder, MetadataRepo } from '../ports/metadata-repo.js';

/** The lease of the one replica that runs scheduled eviction and GC. */
export const MAINTENANCE_LEASE = 'maintenance';

/**
 * Replicas sharing a store elect one to run the scheduled eviction and GC: the holder of
 * the `maintenance` lease in the shared metadata, renewed each time it asks (at most every
 * third of the TTL), taken by another once it stops renewing. Correctness does not depend on
 * it (every removal checks for readers on all replicas); it keeps two replicas from walking
 * the same candidates at once.
 */
export class MaintenanceLeader {
  readonly #metadata: MetadataRepo;
  readonly #holder: LeaseHolder;
  readonly #ttlMs: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  #leader = false;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #checking: Promise<boolean> | undefined;

  constructor(metadata: MetadataRepo, holder: LeaseHolder, ttlMs: number, logger: Logger, now: () => number = Date.now) {
    this.#metadata = metadata;
    this.#holder = holder;
    this.#ttlMs = ttlMs;
    this.#logger = logger;
    this.#now = now;
  }

  /** Whether this replica leads now (taking or renewing the lease when it is due). */
  isLeader(): Promise<boolean> {
    if (this.#now() - this.#checkedAt < this.#ttlMs / 3) return Promise.resolve(this.#leader);
    return (this.#checking ??= this.#check().finally(() => (this.#checking = undefined)));
  }

  async #check(): Promise<boolean> {
    let leads: boolean;
    try {
      const lease = await this.#metadata.acquireLease(MAINTENANCE_LEASE, this.#holder, this.#ttlMs);
      leads = lease.instance === this.#holder.instance;
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message }, 'cannot reach the maintenance lease: not running scheduled maintenance');
      leads = false;
    }
    if (leads !== this.#leader)
      this.#logger.info(
        { instance: this.#holder.instance },
        leads ? 'this replica runs scheduled eviction and GC now' : 'another replica runs scheduled eviction and GC now',
      );
    this.#leader = leads;
    this.#checkedAt = this.#now();
    return leads;
  }

  async release(): Promise<void> {
    if (!this.#leader) return;
    this.#leader = false;
    await this.#metadata.releaseLease(MAINTENANCE_LEASE, this.#holder.instance).catch(() => undefined);
  }
}
