import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { BlobCache, type BlobFill } from './core/blob-cache.js';
import { LocalCatalog } from './core/catalog.js';
import { ManifestCache } from './core/manifest-cache.js';
import { createFreshnessPolicy, perUpstreamPolicy, type FreshnessPolicy } from './core/policy.js';
import { Namespaces } from './core/namespace.js';
import { UpstreamRouter } from './core/upstream-router.js';
import { DEFAULT_HOST, resolveUpstreams, type ResolvedUpstream } from './config/upstreams.js';
import { Referrers } from './core/referrers.js';
import { StorageHealth } from './core/storage-health.js';
import { ReadLeases } from './core/read-leases.js';
import { TagList } from './core/tag-list.js';
import { Maintenance, TEMP_MAX_AGE_MS } from './maintenance/maintenance.js';
import type { Registry } from './core/types.js';
import { PostgresMetadataRepo } from './metadata/postgres-repo.js';
import { SqliteMetadataRepo } from './metadata/sqlite-repo.js';
import { Fill } from './fill/fill.js';
import { createActivity, type Activity } from './observability/activity.js';
import { createMetrics, registerGauges, type Metrics } from './observability/metrics.js';
import type { MetadataRepo } from './ports/metadata-repo.js';
import { FsBlobBackend } from './storage/fs-backend.js';
import { StoragePaths } from './storage/paths.js';
import type { S3BlobBackend } from './storage/s3-backend.js';
import { UpstreamClient } from './upstream/client.js';
import { SingleFlight } from './util/single-flight.js';
import type { Cluster } from './ports/cluster.js';
import { SoloCluster } from './cluster/solo-cluster.js';
import { PostgresCluster } from './cluster/postgres-cluster.js';
import { PeerClient } from './cluster/peer-client.js';
import { RateLimitSync } from './cluster/rate-limit-sync.js';
import { readSecret } from './config/secret.js';
import { ConfigError } from './config/load.js';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { MaintenanceLeader } from './maintenance/leader.js';
import { ClusterFlight } from './core/cluster-flight.js';

/** The service graph over one data directory, shared by `serve` and the admin commands working directly. */
export interface Services {
  paths: StoragePaths;
  metadata: MetadataRepo;
  backend: FsBlobBackend | S3BlobBackend;
  /** The backend as the core uses it: every open blob holds a read lease (eviction skips it). */
  store: ReadLeases;
  maintenance: Maintenance;
  fills: SingleFlight<BlobFill>;
  /** The default upstream's client (docker.io). */
  upstream: UpstreamClient;
  /** One client per configured upstream, by host: each its own trusted origins, credentials and rate-limit state. */
  upstreams: ReadonlyMap<string, UpstreamClient>;
  /** The configured upstreams, resolved (`private` is carried for client auth). */
  upstreamConfigs: readonly ResolvedUpstream[];
  /** Which repository a request names (`?ns=`, a host path prefix, else docker.io). */
  namespaces: Namespaces;
  /** Whether the store can write what the mirror fetches (read by a readiness check). */
  storageHealth: StorageHealth;
  registry: Registry & { manifests: ManifestCache; blobs: BlobCache };
  /** Cancels every fill and fails every upstream request in progress (a shutdown past its deadline); close still follows. */
  abort(reason: Error): void;
  /** This service graph's Prometheus metrics (served by `serve` on /metrics). */
  metrics: Metrics;
  /** Traffic history, upstream health, recent requests and maintenance runs (the dashboard, `cargohold report`). */
  activity: Activity;
  /** The replicas this one coordinates with (a SoloCluster when the metadata is not shared). */
  cluster: Cluster;
  /** The replicas' shared secret (the internal endpoint), when configured. */
  clusterSecret: string | undefined;
  /** When this service graph was built (ms since the epoch, the services' clock). */
  startedAt: number;
  /** Waits for fills, closes the upstream pool and the metadata store. */
  close(): Promise<void>;
}

/** The metadata store the config names: a PostgreSQL database, or SQLite in the data dir (the default). */
async function openMetadataStore(config: Readonly<Config>, paths: StoragePaths, now: () => number): Promise<MetadataRepo> {
  const postgres = config.metadata.postgres;
  return postgres ? PostgresMetadataRepo.open(postgres, now) : SqliteMetadataRepo.open(paths.database, now);
}

/** Opens the metadata store only (listing pins needs nothing else). */
export async function openMetadata(config: Readonly<Config>, now: () => number = Date.now): Promise<{ paths: StoragePaths; metadata: MetadataRepo }> {
  const paths = new StoragePaths(config.dataDir);
  const backend = new FsBlobBackend(paths);
  await backend.init();
  return { paths, metadata: await openMetadataStore(config, paths, now) };
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
  // Read before anything opens: a missing secret stops the start with nothing touched.
  const c = config.cluster;
  const clusterSecret = readSecret('cluster.secret', { value: c.secret, env: c.secretEnv, file: c.secretFile }, process.env, (path) =>
    readFileSync(path, 'utf8'),
  );
  if (clusterSecret !== undefined && clusterSecret.length < 16) {
    throw new ConfigError('invalid config: cluster.secret: must be at least 16 characters (from wherever it is read)');
  }
  const paths = new StoragePaths(config.dataDir);
  const backend = await blobBackend(config, paths);
  const closeBackend = () => {
    if ('close' in backend) backend.close();
  };
  let metadata: MetadataRepo;
  try {
    await backend.init();
    metadata = await openMetadataStore(config, paths, now);
  } catch (err) {
    closeBackend();
    throw err;
  }
  const fills = new SingleFlight<BlobFill>();
  const cluster = openCluster(config, backend.instance);
  const store = new ReadLeases(backend, cluster.shared ? cluster : undefined);
  const peers =
    clusterSecret === undefined || !cluster.shared
      ? undefined
      : new PeerClient({
          secret: clusterSecret,
          connectTimeoutMs: config.upstream.connectTimeoutMs,
          headersTimeoutMs: config.upstream.requestDeadlineMs + config.upstream.headersTimeoutMs,
          bodyTimeoutMs: config.upstream.bodyTimeoutMs,
        });
  const metrics = createMetrics();
  const startedAt = now();
  const activity = createActivity(metadata, logger, now);
  const maintenance = new Maintenance({
    leader: cluster.shared
      ? new MaintenanceLeader(
          metadata,
          { instance: backend.instance, endpoint: '', description: `cargohold on ${hostname()} (${config.listen})`, host: hostname() },
          config.cluster.claimTtlMs,
          logger,
        )
      : undefined,
    metadata,
    backend: store,
    // Being read, or being filled (the key is held until the blob is recorded), here or on another replica.
    inUse: (digest) => store.inUse(digest) || fills.current(digest) !== undefined || (cluster.shared && cluster.inUseElsewhere(digest)),
    config,
    logger,
    now,
    onEvicted: (report) => {
      metrics.evictedBlobs.inc(report.evicted);
      metrics.evictedBytes.inc(report.evictedBytes);
      if (report.evicted > 0 || report.skippedInUse > 0) {
        activity.maintenance.add({
          at: now(),
          kind: 'eviction',
          blobs: report.evicted,
          bytes: report.evictedBytes,
          skippedInUse: report.skippedInUse,
        });
      }
    },
    onCollected: (report) => {
      metrics.gcRuns.inc();
      metrics.gcFreedBytes.inc(report.unreferenced.bytes);
      activity.maintenance.add({
        at: now(),
        kind: 'gc',
        blobs: report.unreferenced.blobs,
        bytes: report.unreferenced.bytes,
        skippedInUse: report.skippedInUse,
      });
    },
  });
  const upstreamConfigs = resolveUpstreams(config);
  const upstreams = new Map<string, UpstreamClient>();
  const policies = new Map<string, FreshnessPolicy>();
  for (const up of upstreamConfigs) {
    // Metrics label the upstream by the host clients name it by (docker.io), not its URL's host.
    const label = up.host;
    upstreams.set(
      up.host,
      new UpstreamClient({
        url: up.url,
        credentials: up.credentials,
        tokenRealmOrigins: up.tokenRealmOrigins,
        redirectOrigins: up.redirectOrigins,
        connectTimeoutMs: config.upstream.connectTimeoutMs,
        headersTimeoutMs: config.upstream.headersTimeoutMs,
        bodyTimeoutMs: config.upstream.bodyTimeoutMs,
        requestDeadlineMs: config.upstream.requestDeadlineMs,
        maxRetryAfterSeconds: config.upstream.maxRetryAfterSeconds,
        offline: config.offline,
        logger: logger.child({ registry: up.host }),
        now,
        observe: (kind, status, seconds, reason) => {
          metrics.upstreamRequests.inc({ upstream: label, kind, status: String(status) });
          metrics.upstreamRequestDuration.observe({ upstream: label, kind }, seconds);
          activity.upstreams.observe(label, kind, status, reason);
        },
      }),
    );
    policies.set(up.host, createFreshnessPolicy(up.tagTtlSeconds, up.tagTtlRules, config.offline));
  }
  const upstream = upstreams.get(DEFAULT_HOST) as UpstreamClient;
  // One pull quota per upstream across replicas.
  const rateLimitSync = cluster.shared
    ? new RateLimitSync(cluster, new Map([...upstreams].map(([host, client]) => [host, client.rateLimit])), logger)
    : undefined;
  rateLimitSync?.start();
  const namespaces = new Namespaces(upstreamConfigs.map((u) => ({ host: u.host, allow: u.allow, deny: u.deny, private: u.private })));
  const router = new UpstreamRouter(upstreams);
  registerGauges(metrics, {
    fillsInFlight: () => fills.size,
    // Fill counts its readers per process: one server per process outside the tests.
    fillReaders: () => Fill.readers,
    storeUsage: () => metadata.storeUsage(),
    rateLimitRemaining: () =>
      [...upstreams].flatMap(([host, client]) => {
        const remaining = client.rateLimit.state.remaining;
        return remaining === undefined ? [] : [{ upstream: host, remaining }];
      }),
  });
  const policy = perUpstreamPolicy(policies, policies.get(DEFAULT_HOST) as FreshnessPolicy);
  const storageHealth = new StorageHealth(logger, now);
  const deadline = { minMs: config.fills.minSeconds * 1000, minBytesPerSecond: config.fills.minBytesPerSecond };
  const registry = {
    manifests: new ManifestCache({
      metadata,
      upstream: router,
      logger,
      maxManifestBytes: config.limits.maxManifestBytes,
      policy,
      health: storageHealth,
      now,
      // A manifest fetch takes at most the upstream's deadline: waiting much longer for another replica's means it hung.
      flight: cluster.shared ? new ClusterFlight(cluster, Math.min(config.cluster.waitMs, 2 * config.upstream.requestDeadlineMs)) : undefined,
    }),
    blobs: new BlobCache({
      metadata,
      backend: store,
      reads: store,
      fills,
      upstream: router,
      deadline,
      health: storageHealth,
      logger,
      onStored: () => maintenance.evictSoon(),
      cluster,
      peers,
      clusterWaitMs: config.cluster.waitMs,
    }),
    tags: new TagList({ metadata, upstream: router, logger, maxPage: config.limits.maxPageSize, ttlSeconds: policy.defaultTtlSeconds, now }),
    referrers: new Referrers({
      metadata,
      upstream: router,
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
      await rateLimitSync?.stop();
      await fills.drain();
      await activity.traffic.stop();
      await Promise.all([...upstreams.values()].map((u) => u.close().catch(() => undefined)));
      await peers?.close().catch(() => undefined);
      await cluster.close();
      await metadata.close();
      closeBackend();
    })());
  const abort = (reason: Error) => {
    registry.blobs.cancelFills(reason);
    for (const u of upstreams.values()) u.abort(reason);
  };
  return {
    paths,
    metadata,
    backend,
    store,
    maintenance,
    fills,
    upstream,
    upstreams,
    upstreamConfigs,
    namespaces,
    storageHealth,
    registry,
    metrics,
    activity,
    cluster,
    clusterSecret,
    startedAt,
    abort,
    close,
  };
}

/** Replicas sharing a PostgreSQL database coordinate through it; anything else is one process alone. */
function openCluster(config: Readonly<Config>, instance: string): Cluster {
  const postgres = config.metadata.postgres;
  if (!postgres) return new SoloCluster(instance);
  return new PostgresCluster({ url: postgres.url, instance, ttlMs: config.cluster.claimTtlMs });
}
