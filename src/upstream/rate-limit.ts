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
  /** Manifest GETs are held back until then (ms since epoch). */
  blockedUntil: number;
}

const DEFAULT_BACKOFF_SECONDS = 60;

/**
 * Docker Hub's pull quota: manifest GETs count, HEADs do not. Keeps the last
 * RateLimit headers seen; once the quota is exhausted (remaining 0, or a 429) no manifest
 * GET is sent until Retry-After (or the window) has passed, so what is cached is served.
 */
export class RateLimitTracker {
  readonly state: RateLimitState = { limit: undefined, remaining: undefined, windowSeconds: undefined, blockedUntil: 0 };
  readonly #logger: Logger;
  readonly #now: () => number;

  constructor(logger: Logger, now: () => number = Date.now) {
    this.#logger = logger;
    this.#now = now;
  }

  /** Notes the headers of a manifest response (GET or HEAD). */
  observe(status: number, headers: Headers): void {
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
    if (status === 429) {
      this.#block(retryAfter ?? this.state.windowSeconds ?? DEFAULT_BACKOFF_SECONDS, 'upstream answered 429');
    } else if (remaining !== undefined && remaining.value <= 0) {
      this.#block(retryAfter ?? this.state.windowSeconds ?? DEFAULT_BACKOFF_SECONDS, 'upstream pull quota exhausted');
    }
  }

  /** Seconds until manifest GETs may be sent again; 0 when they may. */
  blockedForSeconds(): number {
    return Math.max(0, Math.ceil((this.state.blockedUntil - this.#now()) / 1000));
  }

  #block(seconds: number, why: string): void {
    this.state.blockedUntil = Math.max(this.state.blockedUntil, this.#now() + seconds * 1000);
    this.#logger.warn(
      { seconds, limit: this.state.limit, remaining: this.state.remaining },
      `${why}: no manifest GETs upstream until the quota resets; serving what is cached`,
    );
  }
}
