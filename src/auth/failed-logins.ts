/** Addresses tracked at most; past it, expired windows are dropped, then the oldest. */
const MAX_ADDRESSES = 50_000;

interface Window {
  startedAt: number;
  failures: number;
}

/**
 * Failed logins per client address in a fixed window: after `max` failures, every
 * request with credentials from that address is refused until the window ends, so a
 * password cannot be guessed faster than `max` per window (and no bcrypt runs for it).
 * A success does not reset the count: a valid account must not unlock guessing at another.
 */
export class FailedLogins {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(max: number, windowMs: number, now: () => number) {
    this.#max = max;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** Seconds until this address may try again, or undefined when it may now. */
  retryAfter(address: string): number | undefined {
    const window = this.#current(address);
    if (!window || window.failures < this.#max) return undefined;
    return Math.max(1, Math.ceil((window.startedAt + this.#windowMs - this.#now()) / 1000));
  }

  fail(address: string): void {
    const window = this.#current(address);
    if (window) {
      window.failures++;
      return;
    }
    if (this.#windows.size >= MAX_ADDRESSES) this.#prune();
    this.#windows.set(address, { startedAt: this.#now(), failures: 1 });
  }

  #current(address: string): Window | undefined {
    const window = this.#windows.get(address);
    if (window && this.#now() - window.startedAt >= this.#windowMs) {
      this.#windows.delete(address);
      return undefined;
    }
    return window;
  }

  #prune(): void {
    const now = this.#now();
    for (const [address, window] of this.#windows) if (now - window.startedAt >= this.#windowMs) this.#windows.delete(address);
    // Still full (a flood from many addresses): the oldest go, in insertion order.
    for (const address of this.#windows.keys()) {
      if (this.#windows.size < MAX_ADDRESSES) break;
      this.#windows.delete(address);
    }
  }
}
