/** Runs one task per key at a time; callers with the same key share its result. */
export class SingleFlight<T> {
  readonly #pending = new Map<string, Promise<T>>();

  run(key: string, task: () => Promise<T>): Promise<T> {
    const existing = this.#pending.get(key);
    if (existing) return existing;
    const promise = task().finally(() => this.#pending.delete(key));
    this.#pending.set(key, promise);
    return promise;
  }
}
