import type { FillCoordinator } from '../ports/fill-coordinator.js';

/**
 * One task per key at a time; callers with the same key share its result. The one keyed
 * single flight of the process: token fetches, tag revalidations, manifest fetches, and
 * (as the in-process FillCoordinator) blob fills, whose key stays taken until the fill is
 * stored, not just until it started.
 */
export class SingleFlight<T> implements FillCoordinator<T> {
  readonly #pending = new Map<string, Promise<T>>();
  readonly #holds = new Set<Promise<unknown>>();

  current(key: string): Promise<T> | undefined {
    return this.#pending.get(key);
  }

  /** The key is free again as soon as the task settles. */
  run(key: string, task: () => Promise<T>): Promise<T> {
    return this.join(key, task, () => Promise.resolve());
  }

  join(key: string, start: () => Promise<T>, done: (handle: T) => Promise<unknown>): Promise<T> {
    const existing = this.#pending.get(key);
    if (existing) return existing;
    const pending = start();
    this.#pending.set(key, pending);
    const hold = pending.then(done).then(
      () => undefined,
      () => undefined,
    );
    this.#holds.add(hold);
    void hold.then(() => {
      this.#holds.delete(hold);
      if (this.#pending.get(key) === pending) this.#pending.delete(key);
    });
    return pending;
  }

  /** How many keys are taken (for the invariant checks of the tests). */
  get size(): number {
    return this.#pending.size;
  }

  async drain(): Promise<void> {
    while (this.#holds.size > 0) await Promise.all([...this.#holds]);
  }
}
