import type { CacheOutcome, Metrics } from './metrics.js';

/** What the server served since it started, read from its metrics (for `cargohold stats`). */
export interface TrafficSinceStart {
  since: number;
  /** Manifest and blob responses by outcome. */
  responses: Record<CacheOutcome, number>;
  /** Hits and stale serves over every manifest and blob response; undefined before the first. */
  hitRatio: number | undefined;
  bytesFromCache: number;
  bytesFromUpstream: number;
}

const OUTCOMES: CacheOutcome[] = ['hit', 'miss', 'stale', 'coalesced'];

export async function trafficSinceStart(metrics: Metrics, since: number): Promise<TrafficSinceStart> {
  const responses = { hit: 0, miss: 0, stale: 0, coalesced: 0 };
  for (const value of (await metrics.cacheRequests.get()).values) {
    const outcome = value.labels.outcome as CacheOutcome | undefined;
    if (outcome && OUTCOMES.includes(outcome)) responses[outcome] += value.value;
  }
  let bytesFromCache = 0;
  let bytesFromUpstream = 0;
  for (const value of (await metrics.servedBytes.get()).values) {
    if (value.labels.source === 'cache') bytesFromCache += value.value;
    else if (value.labels.source === 'upstream') bytesFromUpstream += value.value;
  }
  const total = OUTCOMES.reduce((n, o) => n + responses[o], 0);
  const hitRatio = total === 0 ? undefined : (responses.hit + responses.stale) / total;
  return { since, responses, hitRatio, bytesFromCache, bytesFromUpstream };
}
