import type { Cluster } from '../ports/cluster.js';

/**
 * One fetch per key across replicas: the replica that claims the key does the work; the
 * others wait until it lets go and read what it recorded (`recorded`), doing the work
 * themselves only if nothing usable was recorded (the owner failed, or is slower than
 * waitMs). Alone (a SoloCluster) it is just the work. Callers keep their in-process
 * single flight in front, so a replica claims a key once however many of its clients ask.
 */
export class ClusterFlight {
  readonly #cluster: Cluster;
  readonly #waitMs: number;

  constructor(cluster: Cluster, waitMs: number) {
    this.#cluster = cluster;
    this.#waitMs = waitMs;
  }

  async run<T>(key: string, work: () => Promise<T>, recorded: () => Promise<T | undefined>): Promise<T> {
    if (!this.#cluster.shared) return work();
    const claimed = await this.#cluster.claim(key);
    if ('held' in claimed) {
      try {
        // Another replica may have done it just before letting go of the key.
        return (await recorded()) ?? (await work());
      } finally {
        await claimed.held.release();
      }
    }
    if (await this.#cluster.waitReleased(key, this.#waitMs)) {
      const found = await recorded();
      if (found !== undefined) return found;
    }
    return work();
  }
}
