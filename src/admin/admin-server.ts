import { createAdaptorServer } from '@hono/node-server';
import { chmod, unlink } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { Hono } from 'hono';

/**
 * Serves the admin API on a unix socket, readable and writable by its owner only. Called
 * while holding the data dir lease, so a socket file already there is a dead holder's.
 */
export async function listenAdmin(app: Hono, socketPath: string): Promise<{ close(): Promise<void> }> {
  await unlink(socketPath).catch(() => undefined);
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(socketPath, 0o600);
  return {
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await unlink(socketPath).catch(() => undefined);
    },
  };
}
