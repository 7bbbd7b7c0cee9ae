import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Lease, LeaseHolder, MetadataRepo } from '../ports/metadata-repo.js';
import { AdminClient } from './admin-client.js';

/**
 * The lease that makes one process the filler of a data dir. A SQLite database is the data
 * dir's own: one name. Replicas sharing a PostgreSQL database each have a data dir (their
 * spool, their admin socket) and run side by side: one lease per host and data dir.
 */
export function fillerLeaseName(config: Readonly<Pick<Config, 'dataDir' | 'metadata'>>): string {
  return config.metadata.postgres ? `filler:${hostname()}:${resolve(config.dataDir)}` : 'filler';
}

/** How often a waiting process looks at the lease again. */
const WAIT_POLL_MS = 250;

/** What acquiring the data dir gave: the lease, or the running server that holds it. */
export type DataDirAccess = { held: HeldLease } | { server: AdminClient; lease: Lease };

/**
 * Holding the data dir's filler lease: renewed every third of its TTL (a heartbeat in the
 * metadata store; time-based, no PIDs), released at close. Every holder answers on its
 * admin socket, which is how others tell a live holder from a dead one. A holder that
 * finds its lease taken (it stalled past the TTL) logs it loudly: correctness never
 * depends on the lease (commits are idempotent, temp files are per instance), only the
 * one-download-per-blob promise does.
 */
export class HeldLease {
  readonly holder: LeaseHolder;
  readonly #name: string;
  readonly #metadata: MetadataRepo;
  readonly #ttlMs: number;
  readonly #logger: Logger;
  readonly #timer: NodeJS.Timeout;
  #released = false;

  private constructor(name: string, metadata: MetadataRepo, holder: LeaseHolder, ttlMs: number, logger: Logger) {
    this.#name = name;
    this.#metadata = metadata;
    this.holder = holder;
    this.#ttlMs = ttlMs;
    this.#logger = logger;
    this.#timer = setInterval(() => void this.#renew(), Math.max(100, Math.floor(ttlMs / 3)));
    this.#timer.unref();
  }

  /**
   * Takes the lease. While another holds it: a live server is returned (the caller refuses
   * to start, or sends its work there); a holder on this host whose socket is gone is dead
   * and its lease is taken over at once; anything else (an admin command working
   * directly, or a holder we cannot probe) is waited for until it lets go or its lease
   * expires, with onWait called once.
   */
  static async acquire(
    name: string,
    metadata: MetadataRepo,
    holder: LeaseHolder,
    ttlMs: number,
    logger: Logger,
    onWait: (lease: Lease) => void,
  ): Promise<DataDirAccess> {
    let waited = false;
    for (;;) {
      let lease = await metadata.acquireLease(name, holder, ttlMs);
      if (lease.instance !== holder.instance) {
        const client = new AdminClient(lease.endpoint);
        const probe = await client.probe();
        if (probe.state === 'alive' && probe.role === 'serve') return { server: client, lease };
        if (probe.state === 'gone' && lease.host === holder.host) {
          logger.warn({ previous: lease.description }, 'the process holding the data dir lease is gone: taking it over');
          lease = await metadata.takeOverLease(name, lease.instance, holder, ttlMs);
        }
      }
      if (lease.instance === holder.instance) return { held: new HeldLease(name, metadata, holder, ttlMs, logger) };
      if (!waited) onWait(lease);
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  }

  async #renew(): Promise<void> {
    if (this.#released) return;
    try {
      if (await this.#metadata.renewLease(this.#name, this.holder.instance, this.#ttlMs)) return;
      const now = await this.#metadata.acquireLease(this.#name, this.holder, this.#ttlMs);
      if (now.instance !== this.holder.instance) {
        this.#logger.error({ holder: now.description }, 'lost the data dir lease (this process stalled past its TTL); another process fills now');
      }
    } catch (err) {
      this.#logger.error({ err: (err as Error).message }, 'cannot renew the data dir lease');
    }
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    await this.#metadata.releaseLease(this.#name, this.holder.instance).catch(() => undefined);
  }
}
