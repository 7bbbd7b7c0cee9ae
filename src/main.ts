import { createAdaptorServer } from '@hono/node-server';
import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { parseListen, type Config } from './config/schema.js';
import { createApp } from './http/app.js';
import { openDatabase } from './metadata/db.js';
import { MetadataStore } from './metadata/store.js';
import { LocalCatalog } from './registry/local-catalog.js';
import { ProxyBlobs } from './registry/proxy-blobs.js';
import { ProxyManifests } from './registry/proxy-manifests.js';
import { ProxyTags } from './registry/proxy-tags.js';
import { createFreshnessPolicy } from './registry/policy.js';
import type { Registry } from './registry/types.js';
import { BlobStore } from './storage/blob-store.js';
import { FillRegistry } from './storage/fills.js';
import { StoragePaths } from './storage/paths.js';
import { UpstreamClient } from './upstream/client.js';

export interface RunningServer {
  /** http://host:port the server listens on (127.0.0.1 when bound to all interfaces). */
  url: string;
  port: number;
  close(): Promise<void>;
}

const ACCESS_TIME_FLUSH_MS = 10_000;

/** The composition root: opens storage and metadata, builds the services, serves. */
export interface ServerOptions {
  /** The clock (tests move it to cross TTLs). */
  now?: () => number;
}

export async function startServer(config: Readonly<Config>, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const now = options.now ?? Date.now;
  const paths = new StoragePaths(config.dataDir);
  mkdirSync(paths.blobsDir, { recursive: true });
  mkdirSync(paths.tmpDir, { recursive: true });
  const db = openDatabase(paths.database);
  const metadata = new MetadataStore(db, now);
  const store = new BlobStore(paths, logger);
  await store.removeOrphanTemps();
  const fills = new FillRegistry(paths, logger);
  const upstream = new UpstreamClient({
    url: config.upstream.url,
    credentials: config.upstream.username && config.upstream.password ? { username: config.upstream.username, password: config.upstream.password } : undefined,
    tokenRealmOrigins: config.upstream.tokenRealmOrigins?.map((u) => new URL(u).origin),
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    headersTimeoutMs: config.upstream.headersTimeoutMs,
    bodyTimeoutMs: config.upstream.bodyTimeoutMs,
    offline: config.offline,
    logger,
    now,
  });
  const policy = createFreshnessPolicy(config.upstream.tagTtlSeconds, config.upstream.tagTtlRules, config.offline);
  const registry: Registry = {
    manifests: new ProxyManifests({ metadata, upstream, logger, maxManifestBytes: config.limits.maxManifestBytes, policy, now }),
    blobs: new ProxyBlobs({ metadata, store, fills, upstream, logger }),
    tags: new ProxyTags({ metadata, upstream, logger, maxPage: config.limits.maxPageSize }),
    catalog: new LocalCatalog(metadata, config.limits.maxPageSize),
  };
  const app = createApp({ registry, logger });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  const { host, port } = parseListen(config.listen) as { host: string; port: number };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const flushTimer = setInterval(() => metadata.flushAccessTimes(), ACCESS_TIME_FLUSH_MS);
  flushTimer.unref();
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  logger.info({ listen: `${host}:${bound}`, dataDir: paths.root, upstream: upstream.url.origin, offline: config.offline }, 'cargohold listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      logger.info('shutting down: finishing requests in flight');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Connections that finish their last response during shutdown become idle later: close them as they do.
      const idleSweep = setInterval(() => server.closeIdleConnections(), 50);
      server.closeIdleConnections();
      const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
      await Promise.race([Promise.all([closed, fills.drain()]), timeout]);
      clearInterval(idleSweep);
      server.closeAllConnections();
      clearInterval(flushTimer);
      await upstream.close().catch(() => undefined);
      metadata.flushAccessTimes();
      db.close();
      logger.info('stopped');
    })());
  return { url: `http://${urlHost}:${bound}`, port: bound, close };
}
