import { createServer } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { createAdminApp } from './admin/admin-app.js';
import { listenAdmin } from './admin/admin-server.js';
import { fillerLeaseName, HeldLease } from './admin/lease.js';
import { adminSocketPath, removeDeadSockets } from './admin/socket-path.js';
import { parseListen, type Config } from './config/schema.js';
import { RegistryError } from './errors/registry-error.js';
import { Fill } from './fill/fill.js';
import { loadClientAuth } from './auth/load.js';
import { createApp } from './http/app.js';
import { createDashboard } from './ui/routes.js';
import { DashboardSource } from './ui/source.js';
import { dashboardViewers } from './ui/access.js';
import { VERSION } from './version.js';
import type { ClientAccess } from './http/authorize.js';
import { nodeListener } from './http/node-listener.js';
import type { StorageHealth } from './core/storage-health.js';
import { redactPostgresUrl } from './metadata/postgres-url.js';
import { ReadinessProbe } from './observability/health.js';
import type { Lease, LeaseHolder } from './ports/metadata-repo.js';
import { TEMP_MAX_AGE_MS } from './maintenance/maintenance.js';
import { openServices, type Services } from './services.js';

export interface RunningServer {
  /** http://host:port the server listens on (127.0.0.1 when bound to all interfaces). */
  url: string;
  port: number;
  /** The admin API's unix socket. */
  adminSocket: string;
  /** Whether the store can write what the mirror fetches. */
  storageHealth: StorageHealth;
  /** What is in flight now (the tests check nothing is left after each one). */
  inspect(): { fills: number; openFills: number; readers: number };
  /** Resolves once no fill is in progress (every blob fetched so far is stored and recorded). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

const ACCESS_TIME_FLUSH_MS = 10_000;
/** Temp files of other instances untouched this long are a dead fill's, whoever holds the lease. */
const TEMP_SWEEP_EVERY_MS = 10 * 60_000;

export interface ServerOptions {
  /** The clock (tests move it to cross TTLs). */
  now?: () => number;
}

/** Another process holds the data dir and answers on its admin API: this one must not start. */
export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
}

/** The composition root: opens storage and metadata, takes the data dir lease, builds the services, serves. */
export async function startServer(config: Readonly<Config>, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const now = options.now ?? Date.now;
  // Read before the data dir is opened: a bad htpasswd or tokens file stops the start with nothing touched.
  const auth = loadClientAuth(config.auth, now);
  const services = await openServices(config, logger, now);
  const access = auth ? { auth, namespaces: services.namespaces } : undefined;
  const cleanups: Array<() => Promise<void>> = [() => services.close()];
  const unwind = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    return await serve(config, logger, services, access, cleanups, unwind);
  } catch (err) {
    await unwind();
    throw err;
  }
}

async function serve(
  config: Readonly<Config>,
  logger: Logger,
  services: Services,
  access: ClientAccess | undefined,
  cleanups: Array<() => Promise<void>>,
  unwind: () => Promise<void>,
): Promise<RunningServer> {
  const { paths, backend, fills } = services;
  const socketPath = adminSocketPath(paths, backend.instance);
  const holder = {
    instance: backend.instance,
    endpoint: socketPath,
    description: `cargohold serve on ${config.listen} (host ${hostname()})`,
    host: hostname(),
  };
  // Listening before taking the lease: a holder always answers, so others can tell it from a dead one.
  const admin = await listenAdmin(createAdminApp({ services, holder, role: 'serve', logger }), socketPath);
  cleanups.push(() => admin.close());
  const lease = await takeLease(fillerLeaseName(config), services, holder, config.lease.ttlMs, logger);
  cleanups.push(() => lease.release());
  // We hold the lease: no other instance fills this data dir now, so its temp files are a dead fill's.
  if (config.metadata.postgres && !config.storage.s3) {
    logger.warn('metadata on PostgreSQL with blobs in this data dir: run one replica only (replicas need a shared bucket, storage.s3)');
  }
  const removed = await backend.sweepTemps(0);
  if (removed > 0) logger.info({ removed }, 'removed temp files of interrupted fills');
  await removeDeadSockets(paths);

  const readiness = new ReadinessProbe({
    metadata: services.metadata,
    dataDir: paths.root,
    tmpDir: paths.tmpDir,
    instance: backend.instance,
    minFreeBytes: config.health.minFreeBytes,
    storage: services.storageHealth,
    blobStore: 'probe' in backend ? backend : undefined,
  });
  const dashboard = config.ui.enabled
    ? createDashboard({
        source: new DashboardSource(services, config.cache.maxSizeBytes),
        traffic: services.activity.traffic,
        viewerOf: dashboardViewers({
          access,
          anonymous: config.ui.anonymous ?? (access ? 'none' : 'view'),
          admins: config.ui.admins,
          viewers: config.ui.viewers,
        }),
        version: VERSION,
        logger,
      })
    : undefined;
  const app = createApp({
    registry: services.registry,
    namespaces: services.namespaces,
    logger,
    metrics: services.metrics,
    readiness,
    activity: services.activity,
    dashboard,
    ...(access ? { access } : {}),
    ...(services.clusterSecret !== undefined && services.cluster.shared
      ? { replicas: { blobs: services.registry.blobs, secret: services.clusterSecret } }
      : {}),
  });
  // A request without Host reaches the listener, which answers it with the OCI error JSON.
  const server = createServer({ requireHostHeader: false }, nodeListener(app, logger));
  server.on('clientError', answerMalformedRequest);
  const { host, port } = parseListen(config.listen) as { host: string; port: number };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const timers = [
    setInterval(
      () => void services.metadata.flushAccessTimes().catch((err: Error) => logger.error({ err: err.message }, 'cannot write access times')),
      ACCESS_TIME_FLUSH_MS,
    ),
    setInterval(() => void backend.sweepTemps(TEMP_MAX_AGE_MS).catch(() => undefined), TEMP_SWEEP_EVERY_MS),
  ];
  for (const timer of timers) timer.unref();
  services.maintenance.schedule();
  services.activity.traffic.start();
  const bound = (server.address() as AddressInfo).port;
  // Where the other replicas stream this one's fills from.
  services.cluster.setAddress(config.cluster.advertiseUrl ?? `http://${hostname()}:${bound}`);
  const urlHost = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  logger.info(
    {
      listen: `${host}:${bound}`,
      dataDir: paths.root,
      // Where the metadata is, never with the database password.
      metadata: config.metadata.postgres ? redactPostgresUrl(config.metadata.postgres.url) : 'sqlite',
      upstream: services.upstream.url.origin,
      upstreams: Object.fromEntries([...services.upstreams].map(([host, client]) => [host, client.url.origin])),
      offline: config.offline,
      admin: socketPath,
      clientAuth: access !== undefined,
    },
    'cargohold listening',
  );

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      logger.info('shutting down: finishing requests in flight');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Connections that finish their last response during shutdown become idle later: close them as they do.
      const idleSweep = setInterval(() => server.closeIdleConnections(), 50);
      server.closeIdleConnections();
      const finished = Promise.all([closed, fills.drain()]).then(() => true);
      const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), config.shutdownTimeoutMs).unref());
      const inTime = await Promise.race([finished, timeout]);
      if (!inTime) {
        logger.warn(
          { fills: fills.size, shutdownTimeoutMs: config.shutdownTimeoutMs },
          'shutdown deadline reached: cancelling fills and upstream requests in progress',
        );
      }
      // The deadline bounds everything: a fill from a dripping upstream is cancelled (its temp file removed, nothing
      // recorded, its readers' transfers broken), and no upstream request left over (its client gone) holds the close.
      services.abort(new RegistryError('UNAVAILABLE', 'the mirror is shutting down'));
      clearInterval(idleSweep);
      server.closeAllConnections();
      for (const timer of timers) clearInterval(timer);
      await unwind();
      logger.info('stopped');
    })());
  return {
    url: `http://${urlHost}:${bound}`,
    port: bound,
    adminSocket: socketPath,
    storageHealth: services.storageHealth,
    inspect: () => ({ fills: fills.size, openFills: Fill.open, readers: Fill.readers }),
    idle: () => fills.drain(),
    close,
  };
}

/** Takes the data dir lease; a live server holding it is refused, anything else waited for. */
async function takeLease(name: string, services: Services, holder: LeaseHolder, ttlMs: number, logger: Logger): Promise<HeldLease> {
  const onWait = (lease: Lease) =>
    logger.warn(
      { holder: lease.description, expiresAt: new Date(lease.expiresAt).toISOString() },
      'waiting for the data dir lease held by another process',
    );
  const access = await HeldLease.acquire(name, services.metadata, holder, ttlMs, logger, onWait);
  if ('server' in access) {
    throw new DataDirInUse(
      `another server uses this data dir (${services.paths.root}): ${access.lease.description}; stop it or use another --data-dir`,
    );
  }
  return access.held;
}

/**
 * Requests Node's HTTP parser refuses (garbage, oversized headers) never reach the app:
 * answer them here with the OCI error body too, then close the connection.
 */
function answerMalformedRequest(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  const body = JSON.stringify(
    new RegistryError('UNSUPPORTED', tooLarge ? 'request headers too large' : 'malformed HTTP request', { status: tooLarge ? 431 : 400 }).toJSON(),
  );
  socket.end(
    `HTTP/1.1 ${status}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
