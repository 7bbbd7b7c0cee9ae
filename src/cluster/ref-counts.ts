/**
 * How many holders each key has in this process: the cluster publishes a read once, when
 * its first holder takes it, and withdraws it when its last lets go.
 */
export class RefCounts {
  readonly #counts = new Map<string, number>();

  /** Adds a holder; true when it is the first. */
  take(key: string): boolean {
    const count = this.#counts.get(key) ?? 0;
    this.#counts.set(key, count + 1);
    return count === 0;
  }

  /** A release function for one holder of key (idempotent); onLast runs when the last holder let go. */
  releaser(key: string, onLast: () => void): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#counts.get(key) ?? 1) - 1;
      if (left > 0) {
        this.#counts.set(key, left);
        return;
      }
      this.#counts.delete(key);
      onLast();
    };
  }

  keys(): string[] {
    return [...this.#counts.keys()];
  }

  get size(): number {
    return this.#counts.size;
  }

  clear(): void {
    this.#counts.clear();
  }
}
