/** Bearer tokens per (realm, service, scope, credential), kept until shortly before they expire. */
export class TokenCache {
  readonly #tokens = new Map<string, { token: string; expiresAt: number }>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  static key(realm: string, service: string, scope: string, credential: string): string {
    return JSON.stringify([realm, service, scope, credential]);
  }

  get(key: string): string | undefined {
    const entry = this.#tokens.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return entry.token;
  }

  /** Keeps a token for its lifetime less a margin, so it is never sent just as it expires. */
  set(key: string, token: string, expiresInSeconds: number): void {
    const lifetimeMs = Math.max(expiresInSeconds, 60) * 1000;
    const margin = Math.min(30_000, lifetimeMs / 4);
    this.#tokens.set(key, { token, expiresAt: this.#now() + lifetimeMs - margin });
    if (this.#tokens.size > 10_000) this.#evictExpired();
  }

  #evictExpired(): void {
    const now = this.#now();
    for (const [key, entry] of this.#tokens) if (entry.expiresAt <= now) this.#tokens.delete(key);
  }
}
