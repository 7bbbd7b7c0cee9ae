import { mkdirSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import { openDatabase, type Db } from './metadata/db.js';
import { MetadataStore } from './metadata/store.js';
import { LocalCatalog } from './registry/local-catalog.js';
import { createFreshnessPolicy } from './registry/policy.js';
import { ProxyBlobs } from './registry/proxy-blobs.js';
import { ProxyManifests } from './registry/proxy-manifests.js';
import { ProxyTags } from './registry/proxy-tags.js';
import type { Registry } from './registry/types.js';
import { BlobStore } from './storage/blob-store.js';
import { FillRegistry } from './storage/fills.js';
import { StoragePaths } from './storage/paths.js';
import { UpstreamClient } from './upstream/client.js';

/** The service graph over one data directory, shared by `serve` and the admin commands. */
export interface Services {
  paths: StoragePaths;
  db: Db;
  metadata: MetadataStore;
  store: BlobStore;
  fills: FillRegistry;
  upstream: UpstreamClient;
  registry: Registry & { manifests: ProxyManifests; blobs: ProxyBlobs };
  /** Waits for fills, flushes access times, closes the upstream pool and the database. */
  close(): Promise<void>;
}

export async function openServices(config: Readonly<Config>, logger: Logger, now: () => number = Date.now): Promise<Services> {
  const paths = new StoragePaths(config.dataDir);
  mkdirSync(paths.blobsDir, { recursive: true });
  mkdirSync(paths.tmpDir, { recursive: true });
  mkdirSync(paths.locksDir, { recursive: true });
  const db = openDatabase(paths.database);
  const metadata = new MetadataStore(db, now);
  const store = new BlobStore(paths, logger);
  await store.removeOrphanTemps();
  const fills = new FillRegistry(paths, logger);
  const upstream = new UpstreamClient({
    url: config.upstream.url,
    credentials:
      config.upstream.username && config.upstream.password ? { username: config.upstream.username, password: config.upstream.password } : undefined,
    tokenRealmOrigins: config.upstream.tokenRealmOrigins?.map((u) => new URL(u).origin),
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    headersTimeoutMs: config.upstream.headersTimeoutMs,
    bodyTimeoutMs: config.upstream.bodyTimeoutMs,
    offline: config.offline,
    logger,
    now,
  });
  const policy = createFreshnessPolicy(config.upstream.tagTtlSeconds, config.upstream.tagTtlRules, config.offline);
  const registry = {
    manifests: new ProxyManifests({ metadata, upstream, logger, maxManifestBytes: config.limits.maxManifestBytes, policy, now }),
    blobs: new ProxyBlobs({ metadata, store, fills, upstream, logger }),
    tags: new ProxyTags({ metadata, upstream, logger, maxPage: config.limits.maxPageSize }),
    catalog: new LocalCatalog(metadata, config.limits.maxPageSize),
  };
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await fills.drain();
      await upstream.close().catch(() => undefined);
      metadata.flushAccessTimes();
      db.close();
    })());
  return { paths, db, metadata, store, fills, upstream, registry, close };
}
