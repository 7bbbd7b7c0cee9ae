import { isUpstreamError } from '../upstream/errors.js';

/**
 * Freshness rules as pure functions. Digests are immutable: served from disk forever.
 * Tags are revalidated with a HEAD; when that fails for any reason but an honest
 * "not found", the cached tag is served stale.
 */
export function canServeStale(err: unknown): boolean {
  return isUpstreamError(err) && !err.isNotFound;
}

/** The upstream said the tag is gone: forget it rather than serve it forever. */
export function upstreamSaysGone(err: unknown): boolean {
  return isUpstreamError(err) && err.isNotFound;
}
