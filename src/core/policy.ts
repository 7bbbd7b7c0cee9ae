import { isUpstreamError } from '../errors/upstream-error.js';

/**
 * Freshness rules as pure functions. Digests are immutable: served from disk forever.
 * A tag is served from the cache for its TTL with no upstream request; after it, one
 * HEAD revalidates. When the upstream fails for any reason but an honest "not found",
 * the cached tag is served stale.
 */
export interface TagTtlRule {
  match?: string | undefined;
  regex?: string | undefined;
  ttlSeconds: number;
}

export interface FreshnessPolicy {
  /** TTL in seconds for a tag: the first matching rule's, else the default (the rules of the repository's upstream). */
  ttlFor(tag: string, repository?: string): number;
  /** The TTL of what no tag rule names: a repository's tag list, referrers. */
  defaultTtlSeconds: number;
  /** Never contact the upstream. */
  offline: boolean;
}

export function createFreshnessPolicy(defaultTtlSeconds: number, rules: readonly TagTtlRule[], offline = false): FreshnessPolicy {
  const compiled = rules.map((rule) => ({ test: compileRule(rule), ttl: rule.ttlSeconds }));
  return {
    offline,
    defaultTtlSeconds,
    ttlFor(tag) {
      return compiled.find((r) => r.test.test(tag))?.ttl ?? defaultTtlSeconds;
    },
  };
}

/** Each upstream's own tag rules, picked by the host a stored repository starts with (`ghcr.io/...`). */
export function perUpstreamPolicy(byHost: ReadonlyMap<string, FreshnessPolicy>, fallback: FreshnessPolicy): FreshnessPolicy {
  return {
    offline: fallback.offline,
    defaultTtlSeconds: fallback.defaultTtlSeconds,
    ttlFor(tag, repository) {
      const host = repository?.slice(0, Math.max(0, repository.indexOf('/')));
      return (host ? byHost.get(host) : undefined)?.ttlFor(tag) ?? fallback.ttlFor(tag);
    },
  };
}

function compileRule(rule: TagTtlRule): RegExp {
  if (rule.regex !== undefined) return new RegExp(rule.regex);
  const glob = (rule.match ?? '')
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${glob}$`);
}

/** Was the tag confirmed upstream recently enough to serve it without asking? */
export function isTagFresh(checkedAtMs: number, nowMs: number, ttlSeconds: number): boolean {
  return nowMs - checkedAtMs < ttlSeconds * 1000;
}

export function canServeStale(err: unknown): boolean {
  return isUpstreamError(err) && !err.isNotFound;
}

/** The upstream said the tag is gone: forget it rather than serve it forever. */
export function upstreamSaysGone(err: unknown): boolean {
  return isUpstreamError(err) && err.isNotFound;
}
