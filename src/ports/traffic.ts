/**
 * What the mirror served, counted per hour, upstream, repository and principal: the
 * dashboard's chart and `cargohold report` read it back, so it outlives restarts.
 */
export interface TrafficCounts {
  /** Manifest and blob responses by cache outcome (the hit ratio, as /metrics counts it). */
  hits: number;
  misses: number;
  stale: number;
  coalesced: number;
  /** Manifest GETs (what Docker Hub counts as pulls), by the same outcomes. */
  pullHits: number;
  pullMisses: number;
  pullStale: number;
  pullCoalesced: number;
  /** Body bytes sent from the store (hit, stale) and as they came from the upstream (miss, coalesced). */
  bytesFromCache: number;
  bytesFromUpstream: number;
}

export interface TrafficRow extends TrafficCounts {
  /** Start of the hour (ms since the epoch, UTC). */
  hour: number;
  /** The registry host (`docker.io`). */
  upstream: string;
  repository: string;
  /** Who pulled; '' for anonymous (or with client auth off). */
  principal: string;
}

/** How `trafficTotals` groups its sums. */
export type TrafficGroup = 'total' | 'hour' | 'day' | 'upstream' | 'repository' | 'principal';

export interface TrafficTotal extends TrafficCounts {
  /** The group: an hour's or a day's start (ms, UTC) as a string, an upstream, a repository, a principal; '' for total. */
  key: string;
}

export const TRAFFIC_COUNTERS = [
  'hits',
  'misses',
  'stale',
  'coalesced',
  'pullHits',
  'pullMisses',
  'pullStale',
  'pullCoalesced',
  'bytesFromCache',
  'bytesFromUpstream',
] as const satisfies ReadonlyArray<keyof TrafficCounts>;

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export function zeroCounts(): TrafficCounts {
  return Object.fromEntries(TRAFFIC_COUNTERS.map((k) => [k, 0])) as unknown as TrafficCounts;
}

/** Manifest GETs answered with no upstream GET of their own: Docker Hub pulls avoided. */
export function pullsAvoided(c: TrafficCounts): number {
  return c.pullHits + c.pullStale + c.pullCoalesced;
}

/** Hits and stale serves over every manifest and blob response; undefined before the first. */
export function hitRatio(c: TrafficCounts): number | undefined {
  const total = c.hits + c.misses + c.stale + c.coalesced;
  return total === 0 ? undefined : (c.hits + c.stale) / total;
}
