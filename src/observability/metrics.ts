import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** How a manifest or blob request was served; `coalesced`: it joined a fetch or fill already in progress. */
export type CacheOutcome = 'hit' | 'miss' | 'stale' | 'coalesced';
export type CacheKind = 'manifest' | 'blob';
/** What an upstream request was for: every HEAD is `head`, a token realm request `token`. */
export type UpstreamKind = 'manifest' | 'blob' | 'tags' | 'token' | 'head';

/**
 * The metrics of one server, on its own registry (several servers in one process, as in
 * the tests, never share a counter). Add a metric by adding a field here and creating it
 * with `registers: [registry]` in createMetrics.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  readonly httpRequestDuration: Histogram<'route'>;
  readonly cacheRequests: Counter<'kind' | 'outcome'>;
  readonly servedBytes: Counter<'source'>;
  readonly upstreamRequests: Counter<'upstream' | 'kind' | 'status'>;
  readonly upstreamRequestDuration: Histogram<'upstream' | 'kind'>;
  readonly evictedBlobs: Counter;
  readonly evictedBytes: Counter;
  readonly gcRuns: Counter;
  readonly gcFreedBytes: Counter;
  /** The text exposition format's content type. */
  readonly contentType: string;
  /** Everything /metrics shows: this registry and the process's default metrics. */
  exposition(): Promise<string>;
}

/** Where the gauges read their values when scraped (nothing is tracked twice). */
export interface GaugeSources {
  fillsInFlight(): number;
  fillReaders(): number;
  storeUsage(): Promise<{ blobs: number; bytes: number }>;
  /** The upstream's pull quota left, per upstream, where it told us. */
  rateLimitRemaining(): Array<{ upstream: string; remaining: number }>;
}

/** A blob transfer can take minutes; a manifest hit takes a millisecond. */
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
/** Until the upstream's response headers: its latency, not the transfer. */
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

let processRegistry: Registry | undefined;

/**
 * Node's default metrics (CPU, memory, event loop lag, GC, handles) describe the process,
 * so they are collected once per process, on a registry of their own that every server's
 * exposition includes: each collectDefaultMetrics call starts a GC observer and an event
 * loop monitor that are never stopped, which a process starting many servers (the tests)
 * would pile up.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export function createMetrics(): Metrics {
  const process = processMetrics(); // started with the first server, so GC and lag are counted from then on
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: 'cargohold_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status.',
      labelNames: ['route', 'method', 'status'],
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: 'cargohold_http_request_duration_seconds',
      help: 'Time from a request to the end of its response (the last byte sent, or the transfer breaking off), by route pattern.',
      labelNames: ['route'],
      buckets: HTTP_BUCKETS,
      registers,
    }),
    cacheRequests: new Counter({
      name: 'cargohold_cache_requests_total',
      help: 'Manifest and blob responses by how they were served: hit, miss, stale (upstream failed) or coalesced (joined a fetch in progress).',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
    servedBytes: new Counter({
      name: 'cargohold_served_bytes_total',
      help: 'Manifest and blob body bytes sent to clients: from the cache (hit, stale) or as they arrived from the upstream (miss, coalesced).',
      labelNames: ['source'],
      registers,
    }),
    upstreamRequests: new Counter({
      name: 'cargohold_upstream_requests_total',
      help: 'Requests sent upstream (each redirect hop and token request counts), by upstream, kind and status (timeout or error when no answer came).',
      labelNames: ['upstream', 'kind', 'status'],
      registers,
    }),
    upstreamRequestDuration: new Histogram({
      name: 'cargohold_upstream_request_duration_seconds',
      help: "Time until the upstream's response headers (or its failure), by upstream and kind.",
      labelNames: ['upstream', 'kind'],
      buckets: UPSTREAM_BUCKETS,
      registers,
    }),
    evictedBlobs: new Counter({ name: 'cargohold_evictions_total', help: 'Blobs evicted by the cache policy (size cap, age limit).', registers }),
    evictedBytes: new Counter({ name: 'cargohold_evicted_bytes_total', help: 'Bytes of the blobs evicted by the cache policy.', registers }),
    gcRuns: new Counter({ name: 'cargohold_gc_runs_total', help: 'Garbage collection runs (not dry runs).', registers }),
    gcFreedBytes: new Counter({
      name: 'cargohold_gc_freed_bytes_total',
      help: 'Bytes of unreferenced blobs removed by garbage collection.',
      registers,
    }),
    contentType: registry.contentType,
    exposition: () => Registry.merge([process, registry]).metrics(),
  };
}

/** The gauges, read from their sources at each scrape. */
export function registerGauges(metrics: Metrics, sources: GaugeSources): void {
  const registers = [metrics.registry];
  new Gauge({
    name: 'cargohold_fills_in_flight',
    help: 'Blob fills (upstream downloads) in progress, until the blob is stored and recorded.',
    registers,
    collect() {
      this.set(sources.fillsInFlight());
    },
  });
  new Gauge({
    name: 'cargohold_fill_readers',
    help: 'Client responses reading from a fill in progress.',
    registers,
    collect() {
      this.set(sources.fillReaders());
    },
  });
  // One query feeds both store gauges (a scrape collects them together). A store that
  // fails to answer leaves them at their last value: /readyz is what reports it.
  let usage: Promise<{ blobs: number; bytes: number } | undefined> | undefined;
  const readUsage = () =>
    (usage ??= sources
      .storeUsage()
      .catch(() => undefined)
      .finally(() => {
        usage = undefined;
      }));
  new Gauge({
    name: 'cargohold_store_bytes',
    help: 'Bytes of the blobs stored, as recorded in the metadata store.',
    registers,
    async collect() {
      const read = await readUsage();
      if (read) this.set(read.bytes);
    },
  });
  new Gauge({
    name: 'cargohold_store_blobs',
    help: 'Blobs stored, as recorded in the metadata store.',
    registers,
    async collect() {
      const read = await readUsage();
      if (read) this.set(read.blobs);
    },
  });
  new Gauge({
    name: 'cargohold_upstream_ratelimit_remaining',
    help: "The upstream's pull quota left, from its last RateLimit-Remaining header (absent until it sent one).",
    labelNames: ['upstream'],
    registers,
    collect() {
      this.reset();
      for (const { upstream, remaining } of sources.rateLimitRemaining()) this.set({ upstream }, remaining);
    },
  });
}
