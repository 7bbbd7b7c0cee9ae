import type { Cluster, ClaimResult, HeldClaim, RateLimitUpdate, SharedRateLimit } from '../ports/cluster.js';

/**
 * One process on its own (SQLite, or a database no other replica uses): every claim is
 * granted and nothing is shared, so the core pays no round trip for coordination it does
 * not need; the in-process single flight already gives one fetch per key.
 */
export class SoloCluster implements Cluster {
  readonly instance: string;
  readonly shared = false;

  constructor(instance: string) {
    this.instance = instance;
  }

  setAddress(): void {}

  claim(key: string): Promise<ClaimResult> {
    const held: HeldClaim = { key, release: () => Promise.resolve() };
    return Promise.resolve({ held });
  }

  takeOver(key: string): Promise<ClaimResult> {
    return this.claim(key);
  }

  waitReleased(): Promise<boolean> {
    return Promise.resolve(true);
  }

  holdRead(): Promise<() => void> {
    return Promise.resolve(() => undefined);
  }

  inUseElsewhere(): Promise<boolean> {
    return Promise.resolve(false);
  }

  publishRateLimit(_update: RateLimitUpdate, _options?: { headroomOnly?: boolean }): Promise<number> {
    return Promise.resolve(0);
  }

  rateLimits(): Promise<SharedRateLimit[]> {
    return Promise.resolve([]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
