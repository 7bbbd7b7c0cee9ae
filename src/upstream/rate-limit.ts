import type { Logger } from 'pino';
import { headerValue } from './errors.js';

type Headers = Record<string, string | string[] | undefined>;

/** "100;w=21600" → { value: 100, windowSeconds: 21600 } (Docker Hub's RateLimit headers). */
export function parseRateLimitHeader(value: string | undefined): { value: number; windowSeconds: number | undefined } | undefined {
  if (!value) return undefined;
  const match = /^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?/.exec(value);
  if (!match) return undefined;
  return { value: Number(match[1]), windowSeconds: match[2] === undefined ? undefined : Number(match[2]) };
}

/** Retry-After as seconds from now: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

export interface RateLimitState {
  limit: number | undefined;
  remaining: number | undefined;
  windowSeconds: number | undefined;
  /** Manifest GETs are held back until then (ms since epoch); 0 when they are not. */
  blockedUntil: number;
  /** Why they are held back. */
  reason: string | undefined;
}

/** What the admin API shows. */
export interface RateLimitSnapshot {
  limit: number | null;
  remaining: number | null;
  windowSeconds: number | null;
  blocked: boolean;
  /** ISO time the block ends, or null. */
  blockedUntil: string | null;
  blockedForSeconds: number;
  reason: string | null;
}

const DEFAULT_BACKOFF_SECONDS = 60;

/**
 * Docker Hub's pull quota: manifest GETs count, HEADs do not. Keeps the last
 * RateLimit headers seen; once the quota is exhausted (remaining 0, or a 429) no manifest
 * GET is sent until Retry-After (or the window) has passed, so what is cached is served.
 * A block lasts at most maxBlockSeconds whatever the upstream says (one bad Retry-After
 * must not stop manifests for years), and lifts as soon as a later response (a free HEAD)
 * reports quota back.
 */
export class RateLimitTracker {
  readonly state: RateLimitState = { limit: undefined, remaining: undefined, windowSeconds: undefined, blockedUntil: 0, reason: undefined };
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #maxBlockSeconds: number;
  /** Told when a block starts or lifts here (replicas share it: src/cluster/rate-limit-sync.ts). */
  onChange: ((state: Readonly<RateLimitState>) => void) | undefined;

  constructor(logger: Logger, now: () => number = Date.now, maxBlockSeconds = 3600) {
    this.#logger = logger;
    this.#now = now;
    this.#maxBlockSeconds = maxBlockSeconds;
  }

  /**
   * Notes the headers of a manifest response (GET or HEAD). Returns the seconds this
   * response blocks manifest GETs for (capped), or undefined when it blocks nothing.
   */
  observe(status: number, headers: Headers): number | undefined {
    const limit = parseRateLimitHeader(headerValue(headers['ratelimit-limit']));
    const remaining = parseRateLimitHeader(headerValue(headers['ratelimit-remaining']));
    if (limit || remaining) {
      this.state.limit = limit?.value ?? this.state.limit;
      this.state.remaining = remaining?.value ?? this.state.remaining;
      this.state.windowSeconds = remaining?.windowSeconds ?? limit?.windowSeconds ?? this.state.windowSeconds;
      this.#logger.debug(
        { limit: this.state.limit, remaining: this.state.remaining, windowSeconds: this.state.windowSeconds },
        'upstream rate limit',
      );
    }
    const retryAfter = parseRetryAfter(headerValue(headers['retry-after']), this.#now());
    const seconds = Math.min(this.#maxBlockSeconds, retryAfter ?? this.state.windowSeconds ?? DEFAULT_BACKOFF_SECONDS);
    if (status === 429) return this.#block(seconds, 'upstream answered 429');
    if (remaining !== undefined && remaining.value <= 0) return this.#block(seconds, 'upstream pull quota exhausted');
    if (remaining !== undefined && this.state.blockedUntil > 0) this.#lift(`upstream reports ${remaining.value} pulls remaining`);
    return undefined;
  }

  /** Seconds until manifest GETs may be sent again; 0 when they may. */
  blockedForSeconds(): number {
    if (this.state.blockedUntil > 0 && this.state.blockedUntil <= this.#now()) this.#lift('the block ran out');
    return Math.max(0, Math.ceil((this.state.blockedUntil - this.#now()) / 1000));
  }

  /** Lifts the block (the operator, through the admin API); true if there was one. */
  clear(): boolean {
    const blocked = this.blockedForSeconds() > 0;
    if (blocked) this.#lift('cleared through the admin API');
    return blocked;
  }

  /**
   * Takes the state another replica published (it saw the quota run out, or come back): one
   * quota, one view of it. Tells nobody (it is already shared).
   */
  adopt(shared: Readonly<RateLimitState>): void {
    this.state.limit = shared.limit ?? this.state.limit;
    this.state.remaining = shared.remaining ?? this.state.remaining;
    this.state.windowSeconds = shared.windowSeconds ?? this.state.windowSeconds;
    const now = this.#now();
    if (shared.blockedUntil > now && shared.blockedUntil !== this.state.blockedUntil) {
      const starts = this.state.blockedUntil <= now;
      this.state.blockedUntil = shared.blockedUntil;
      this.state.reason = shared.reason;
      if (starts) {
        this.#logger.warn(
          { until: new Date(shared.blockedUntil).toISOString(), reason: shared.reason },
          `another replica reports: ${shared.reason ?? 'pull quota exhausted'}; no manifest GETs upstream until the block ends`,
        );
      }
    } else if (shared.blockedUntil <= now && this.state.blockedUntil > 0) {
      this.#lift('lifted on another replica', false);
    }
  }

  snapshot(): RateLimitSnapshot {
    const seconds = this.blockedForSeconds();
    return {
      limit: this.state.limit ?? null,
      remaining: this.state.remaining ?? null,
      windowSeconds: this.state.windowSeconds ?? null,
      blocked: seconds > 0,
      blockedUntil: seconds > 0 ? new Date(this.state.blockedUntil).toISOString() : null,
      blockedForSeconds: seconds,
      reason: seconds > 0 ? (this.state.reason ?? null) : null,
    };
  }

  #block(seconds: number, why: string): number {
    const now = this.#now();
    const until = now + seconds * 1000;
    const starts = this.state.blockedUntil <= now;
    if (until > this.state.blockedUntil) {
      this.state.blockedUntil = until;
      this.state.reason = why;
      this.onChange?.(this.state);
    }
    const fields = {
      seconds,
      until: new Date(this.state.blockedUntil).toISOString(),
      reason: why,
      limit: this.state.limit,
      remaining: this.state.remaining,
    };
    // Every manifest response during a block says the same: one warning when it starts, not one per request.
    if (starts) this.#logger.warn(fields, `${why}: no manifest GETs upstream until the block ends; serving what is cached`);
    else this.#logger.debug(fields, 'upstream rate limit block renewed');
    return Math.ceil((this.state.blockedUntil - now) / 1000);
  }

  #lift(why: string, tell = true): void {
    const until = new Date(this.state.blockedUntil).toISOString();
    this.state.blockedUntil = 0;
    this.state.reason = undefined;
    if (tell) this.onChange?.(this.state);
    this.#logger.info(
      { was: until, reason: why, remaining: this.state.remaining },
      'upstream rate limit block lifted: manifest GETs go upstream again',
    );
  }
}
