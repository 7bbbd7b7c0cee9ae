import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { createAdminApp } from '../admin/admin-app.js';
import { AdminClient } from '../admin/admin-client.js';
import { listenAdmin } from '../admin/admin-server.js';
import { fillerLeaseName, HeldLease } from '../admin/lease.js';
import { adminSocketPath } from '../admin/socket-path.js';
import type { Config } from '../config/schema.js';
import { StorageError } from '../errors/storage-error.js';
import type { Lease, MetadataRepo } from '../ports/metadata-repo.js';
import { openMetadata, openServices, type Services } from '../services.js';
import { EnvironmentError } from './common.js';
import { checkDataDir, explainOpenFailure } from './data-dir-check.js';

/**
 * Opens what a command needs of an existing data dir; an unusable one (missing, a file,
 * read-only, a corrupt database) is an EnvironmentError saying so in one line.
 */
async function opening<T>(config: Readonly<Config>, open: () => Promise<T>): Promise<T> {
  const dir = config.dataDir;
  await checkDataDir(dir, { create: false, missing: `no data dir at ${dir}; start \`cargohold serve --data-dir ${dir}\` first or check the path` });
  try {
    return await open();
  } catch (err) {
    throw err instanceof StorageError ? new EnvironmentError(explainOpenFailure(err, dir), { cause: err }) : err;
  }
}

/** A running server's admin API, if a server holds the data dir and answers. */
async function liveServer(lease: Lease | undefined): Promise<AdminClient | undefined> {
  if (!lease) return undefined;
  const client = new AdminClient(lease.endpoint);
  const probe = await client.probe();
  return probe.state === 'alive' && probe.role === 'serve' ? client : undefined;
}

/**
 * Runs an admin command where it belongs: through the running server's admin API when a
 * server holds the data dir (so one process fills), else on the data dir directly while
 * holding its lease (a server starting meanwhile waits for it, as does another command).
 */
export async function onDataDir<T>(
  config: Readonly<Config>,
  logger: Logger,
  work: { remote: (client: AdminClient) => Promise<T>; local: (services: Services) => Promise<T> },
): Promise<T> {
  const { metadata } = await opening(config, () => openMetadata(config));
  const server = await liveServer(await metadata.currentLease(fillerLeaseName(config)).finally(() => metadata.close()));
  if (server) return work.remote(server);

  const services = await opening(config, () => openServices(config, logger));
  try {
    const socket = adminSocketPath(services.paths, services.backend.instance);
    const command = process.argv[2] ?? 'command';
    const holder = {
      instance: services.backend.instance,
      endpoint: socket,
      description: `cargohold ${command} working directly on the data dir`,
      host: hostname(),
    };
    const onWait = (held: Lease) =>
      process.stderr.write(`waiting for the data dir, held by ${held.description} (until ${new Date(held.expiresAt).toISOString()} at the latest)\n`);
    // Listening before taking the lease: a holder always answers, so others can tell it from a dead one.
    const status = await listenAdmin(createAdminApp({ services, holder, role: 'command', logger }), socket);
    try {
      const access = await HeldLease.acquire(fillerLeaseName(config), services.metadata, holder, config.lease.ttlMs, logger, onWait);
      if ('server' in access) return await work.remote(access.server);
      try {
        await services.backend.sweepTemps(0);
        return await work.local(services);
      } finally {
        await access.held.release();
      }
    } finally {
      await status.close();
    }
  } finally {
    await services.close();
  }
}

/** Reads or changes metadata only (pins): through the running server if there is one, else directly. */
export async function onMetadata<T>(
  config: Readonly<Config>,
  work: { remote: (client: AdminClient) => Promise<T>; local: (metadata: MetadataRepo) => Promise<T> },
): Promise<T> {
  const { metadata } = await opening(config, () => openMetadata(config));
  try {
    const server = await liveServer(await metadata.currentLease(fillerLeaseName(config)));
    return server ? await work.remote(server) : await work.local(metadata);
  } finally {
    await metadata.close();
  }
}
