import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { RegistryError } from './errors/registry-error.js';
import type { Logger } from 'pino';
import { parseListen, type Config } from './config/schema.js';
import { createApp } from './http/app.js';
import { openServices } from './services.js';

export interface RunningServer {
  /** http://host:port the server listens on (127.0.0.1 when bound to all interfaces). */
  url: string;
  port: number;
  close(): Promise<void>;
}

const ACCESS_TIME_FLUSH_MS = 10_000;

export interface ServerOptions {
  /** The clock (tests move it to cross TTLs). */
  now?: () => number;
}

/** The composition root: opens storage and metadata, builds the services, serves. */
export async function startServer(config: Readonly<Config>, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const now = options.now ?? Date.now;
  const services = await openServices(config, logger, now);
  const { paths, metadata, fills, upstream, registry } = services;
  const app = createApp({ registry, logger });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  server.on('clientError', answerMalformedRequest);
  const { host, port } = parseListen(config.listen) as { host: string; port: number };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await services.close();
    throw err;
  }
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
      await services.close();
      logger.info('stopped');
    })());
  return { url: `http://${urlHost}:${bound}`, port: bound, close };
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
