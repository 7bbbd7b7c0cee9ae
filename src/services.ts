import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { BlobCache, type BlobFill } from './core/blob-cache.js';
import { LocalCatalog } from './core/catalog.js';
import { ManifestCache } from './core/manifest-cache.js';
import { createFreshnessPolicy } from './core/policy.js';
import { Referrers } from './core/referrers.js';
import { StorageHealth } from './core/storage-health.js';
import { ReadLeases } from './core/read-leases.js';
import { TagList } from './core/tag-list.js';
import { Maintenance, TEMP_MAX_AGE_MS } from './maintenance/maintenance.js';
import type { Registry } from './core/types.js';
import { SqliteMetadataRepo } from './metadata/sqlite-repo.js';
import { Fill } from './fill/fill.js';
import { createMetrics, registerGauges, type Metrics } from './observability/metrics.js';
import type { MetadataRepo } from './ports/metadata-repo.js';
import { FsBlobBackend } from './storage/fs-backend.js';
import { StoragePaths } from './storage/paths.js';
import type { S3BlobBackend } from './storage/s3-backend.js';
import { UpstreamClient } from './upstream/client.js';
import { SingleFlight } from './util/single-flight.js';

/** The service graph over one data directory, shared by `serve` and the admin commands working directly. */
export interface Services {
  paths: StoragePaths;
  metadata: MetadataRepo;
  backend: FsBlobBackend | S3BlobBackend;
  /** The backend as the core uses it: every open blob holds a read lease (eviction skips it). */
  store: ReadLeases;
  maintenance: Maintenance;
  fills: SingleFlight<BlobFill>;
  upstream: UpstreamClient;
  /** Whether the store can write what the mirror fetches (read by a readiness check). */
  storageHealth: StorageHealth;
  registry: Registry & { manifests: ManifestCache; blobs: BlobCache };
  /** Cancels every fill and fails every upstream request in progress (a shutdown past its deadline); close still follows. */
  abort(reason: Error): void;
  /** This service graph's Prometheus metrics (served by `serve` on /metrics). */
  metrics: Metrics;
  /** When this service graph was built (ms since the epoch, the services' clock). */
  startedAt: number;
  /** Waits for fills, closes the upstream pool and the metadata store. */
  close(): Promise<void>;
}

/** Opens the metadata store only (listing pins needs nothing else). */
export async function openMetadata(config: Readonly<Config>, now: () => number = Date.now): Promise<{ paths: StoragePaths; metadata: MetadataRepo }> {
  const paths = new StoragePaths(config.dataDir);
  const backend = new FsBlobBackend(paths);
  await backend.init();
  return { paths, metadata: SqliteMetadataRepo.open(paths.database, now) };
}

/**
 * The blob backend the config names: the data dir's blobs/, or an S3 bucket (spooling in the data dir's tmp/).
 * The AWS SDK is loaded only then: it adds about 150 ms to every command's start.
 */
async function blobBackend(config: Readonly<Config>, paths: StoragePaths): Promise<FsBlobBackend | S3BlobBackend> {
  const s3 = config.storage.s3;
  if (!s3) return new FsBlobBackend(paths);
  const { S3BlobBackend } = await import('./storage/s3-backend.js');
  return new S3BlobBackend(
    {
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      region: s3.region,
      prefix: s3.prefix,
      forcePathStyle: s3.forcePathStyle,
      credentials: s3.credentials,
      partSizeBytes: s3.partSizeBytes,
      redirectExpirySeconds: s3.redirect ? s3.redirectExpirySeconds : undefined,
      // Replicas share the bucket, not the data dir's lease: their uploads are a dead fill's only once this old.
      sharedTempMinAgeMs: TEMP_MAX_AGE_MS,
    },
    paths,
  );
}

export async function openServices(config: Readonly<Config>, logger: Logger, now: () => number = Date.now): Promise<Services> {
  const paths = new StoragePaths(config.dataDir);
  const backend = await blobBackend(config, paths);
  const closeBackend = () => {
    if ('close' in backend) backend.close();
  };
  let metadata: MetadataRepo;
  try {
    await backend.init();
    metadata = SqliteMetadataRepo.open(paths.database, now);
  } catch (err) {
    closeBackend();
    throw err;
  }
  const fills = new SingleFlight<BlobFill>();
  const metrics = createMetrics();
  const startedAt = now();
  const upstreamLabel = new URL(config.upstream.url).host;
  const store = new ReadLeases(backend);
  const maintenance = new Maintenance({
    metadata,
    backend: store,
    // Being read, or being filled (the key is held until the blob is recorded).
    inUse: (digest) => store.inUse(digest) || fills.current(digest) !== undefined,
    config,
    logger,
    now,
    onEvicted: (report) => {
      metrics.evictedBlobs.inc(report.evicted);
      metrics.evictedBytes.inc(report.evictedBytes);
    },
    onCollected: (report) => {
      metrics.gcRuns.inc();
      metrics.gcFreedBytes.inc(report.unreferenced.bytes);
    },
  });
  const upstream = new UpstreamClient({
    url: config.upstream.url,
    credentials:
      config.upstream.username && config.upstream.password ? { username: config.upstream.username, password: config.upstream.password } : undefined,
    tokenRealmOrigins: config.upstream.tokenRealmOrigins?.map((u) => new URL(u).origin),
    redirectOrigins: config.upstream.redirectOrigins.map((u) => new URL(u).origin),
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    headersTimeoutMs: config.upstream.headersTimeoutMs,
    bodyTimeoutMs: config.upstream.bodyTimeoutMs,
    requestDeadlineMs: config.upstream.requestDeadlineMs,
    maxRetryAfterSeconds: config.upstream.maxRetryAfterSeconds,
    offline: config.offline,
    logger,
    now,
    observe: (kind, status, seconds) => {
      metrics.upstreamRequests.inc({ upstream: upstreamLabel, kind, status: String(status) });
      metrics.upstreamRequestDuration.observe({ upstream: upstreamLabel, kind }, seconds);
    },
  });
  registerGauges(metrics, {
    fillsInFlight: () => fills.size,
    // Fill counts its readers per process: one server per process outside the tests.
    fillReaders: () => Fill.readers,
    storeUsage: () => metadata.storeUsage(),
    rateLimitRemaining: () => {
      const remaining = upstream.rateLimit.state.remaining;
      return remaining === undefined ? [] : [{ upstream: upstreamLabel, remaining }];
    },
  });
  const policy = createFreshnessPolicy(config.upstream.tagTtlSeconds, config.upstream.tagTtlRules, config.offline);
  const storageHealth = new StorageHealth(logger, now);
  const deadline = { minMs: config.fills.minSeconds * 1000, minBytesPerSecond: config.fills.minBytesPerSecond };
  const registry = {
    manifests: new ManifestCache({
      metadata,
      upstream,
      logger,
      maxManifestBytes: config.limits.maxManifestBytes,
      policy,
      health: storageHealth,
      now,
    }),
    blobs: new BlobCache({
      metadata,
      backend: store,
      reads: store,
      fills,
      upstream,
      deadline,
      health: storageHealth,
      logger,
      onStored: () => maintenance.evictSoon(),
    }),
    tags: new TagList({ metadata, upstream, logger, maxPage: config.limits.maxPageSize, ttlSeconds: policy.defaultTtlSeconds, now }),
    referrers: new Referrers({
      metadata,
      upstream,
      logger,
      maxManifestBytes: config.limits.maxManifestBytes,
      ttlSeconds: policy.defaultTtlSeconds,
      now,
    }),
    catalog: new LocalCatalog(metadata, config.limits.maxPageSize),
  };
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await maintenance.stop();
      await fills.drain();
      await upstream.close().catch(() => undefined);
      await metadata.close();
      closeBackend();
    })());
  const abort = (reason: Error) => {
    registry.blobs.cancelFills(reason);
    upstream.abort(reason);
  };
  return { paths, metadata, backend, store, maintenance, fills, upstream, storageHealth, registry, metrics, startedAt, abort, close };
}
