import type { Cluster, ClaimOwner, ClaimResult, HeldClaim, RateLimitUpdate, SharedRateLimit } from '../ports/cluster.js';
import { fillClaimKey } from '../ports/cluster.js';
import { RefCounts } from './ref-counts.js';

interface ClaimRow extends ClaimOwner {
  expiresAt: number;
}

/** What replicas in one process share (the tests' stand-in for the database, checked by the same contract). */
export class MemoryClusterState {
  readonly claims = new Map<string, ClaimRow>();
  /** digest → instance → expiry */
  readonly reads = new Map<string, Map<string, number>>();
  readonly rateLimits = new Map<string, SharedRateLimit>();
}

const POLL_MS = 20;

/**
 * A replica of a MemoryClusterState: claims expire unless renewed by the heartbeat, exactly
 * as PostgresCluster's rows do. `stall()` stops the heartbeat (a replica that hangs).
 */
export class MemoryCluster implements Cluster {
  readonly instance: string;
  readonly shared = true;
  readonly #state: MemoryClusterState;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #held = new Set<string>();
  readonly #reading = new RefCounts();
  readonly #timer: NodeJS.Timeout;
  #address: string | undefined;

  constructor(state: MemoryClusterState, instance: string, ttlMs: number, now: () => number = Date.now) {
    this.#state = state;
    this.instance = instance;
    this.#ttlMs = ttlMs;
    this.#now = now;
    this.#timer = setInterval(() => this.#renew(), Math.max(10, Math.floor(ttlMs / 3)));
    this.#timer.unref();
  }

  setAddress(address: string | undefined): void {
    this.#address = address;
  }

  /** Stops renewing (a replica that hangs or died): its claims and reads expire after the TTL. */
  stall(): void {
    clearInterval(this.#timer);
  }

  #renew(): void {
    const until = this.#now() + this.#ttlMs;
    for (const key of this.#held) {
      const row = this.#state.claims.get(key);
      if (row?.instance === this.instance) row.expiresAt = until;
    }
    for (const digest of this.#reading.keys()) this.#state.reads.get(digest)?.set(this.instance, until);
  }

  #live(key: string): ClaimRow | undefined {
    const row = this.#state.claims.get(key);
    return row && row.expiresAt > this.#now() ? row : undefined;
  }

  #grant(key: string, detail: string | undefined): ClaimResult {
    this.#state.claims.set(key, { instance: this.instance, address: this.#address, detail, expiresAt: this.#now() + this.#ttlMs });
    this.#held.add(key);
    const held: HeldClaim = {
      key,
      release: () => {
        this.#held.delete(key);
        if (this.#state.claims.get(key)?.instance === this.instance) this.#state.claims.delete(key);
        return Promise.resolve();
      },
    };
    return { held };
  }

  claim(key: string, detail?: string): Promise<ClaimResult> {
    const row = this.#live(key);
    if (row && row.instance !== this.instance)
      return Promise.resolve({ owner: { instance: row.instance, address: row.address, detail: row.detail } });
    return Promise.resolve(this.#grant(key, detail));
  }

  takeOver(key: string, dead: ClaimOwner, detail?: string): Promise<ClaimResult> {
    const row = this.#state.claims.get(key);
    if (row && row.instance === dead.instance) this.#state.claims.delete(key);
    return this.claim(key, detail);
  }

  async waitReleased(key: string, timeoutMs: number): Promise<boolean> {
    const until = this.#now() + timeoutMs;
    for (;;) {
      if (!this.#live(key)) return true;
      if (this.#now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  holdRead(digest: string): Promise<() => void> {
    if (this.#reading.take(digest)) {
      const readers = this.#state.reads.get(digest) ?? new Map<string, number>();
      readers.set(this.instance, this.#now() + this.#ttlMs);
      this.#state.reads.set(digest, readers);
    }
    return Promise.resolve(this.#reading.releaser(digest, () => this.#state.reads.get(digest)?.delete(this.instance)));
  }

  inUseElsewhere(digest: string): Promise<boolean> {
    const now = this.#now();
    const fill = this.#live(fillClaimKey(digest));
    if (fill && fill.instance !== this.instance) return Promise.resolve(true);
    for (const [instance, expiresAt] of this.#state.reads.get(digest) ?? []) {
      if (instance !== this.instance && expiresAt > now) return Promise.resolve(true);
    }
    return Promise.resolve(false);
  }

  publishRateLimit(update: RateLimitUpdate, options: { headroomOnly?: boolean } = {}): Promise<number> {
    const before = this.#state.rateLimits.get(update.upstream);
    const version = (before?.version ?? 0) + 1;
    const block = options.headroomOnly && before ? { blockedUntil: before.blockedUntil, reason: before.reason } : {};
    this.#state.rateLimits.set(update.upstream, { ...update, ...block, version });
    return Promise.resolve(version);
  }

  rateLimits(): Promise<SharedRateLimit[]> {
    return Promise.resolve([...this.#state.rateLimits.values()].map((r) => ({ ...r })));
  }

  close(): Promise<void> {
    clearInterval(this.#timer);
    for (const key of this.#held) if (this.#state.claims.get(key)?.instance === this.instance) this.#state.claims.delete(key);
    this.#held.clear();
    for (const digest of this.#reading.keys()) this.#state.reads.get(digest)?.delete(this.instance);
    this.#reading.clear();
    return Promise.resolve();
  }
}
