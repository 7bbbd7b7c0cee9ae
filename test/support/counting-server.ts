import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A plain HTTP server on 127.0.0.1 standing in for an internal service (or a CDN) that
 * counts every TCP connection and request it receives; by default it answers with a
 * secret no client of the mirror may ever see.
 */
export class CountingServer {
  static readonly SECRET = 'internal-service-secret';
  connections = 0;
  readonly requests: string[] = [];
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(readonly handler: (req: IncomingMessage, res: ServerResponse) => void = secret) {}

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.requests.push(`${req.method} ${req.url}`);
      this.handler(req, res);
    });
    server.on('connection', (socket) => {
      this.connections++;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    return this;
  }

  get port(): number {
    return (this.#server?.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

function secret(_req: IncomingMessage, res: ServerResponse): void {
  const body = Buffer.from(CountingServer.SECRET.repeat(20_000));
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
  res.end(body);
}
