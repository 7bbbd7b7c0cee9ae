import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP relay in front of a real upstream that breaks one connection: the first response
 * stream to pass `cutAfter` bytes is cut there (both sides destroyed), as a flaky link or
 * a CDN edge does mid-layer. Counts connections and cuts so tests can assert them.
 */
export class CuttingRelay {
  connections = 0;
  cuts = 0;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(
    readonly target: { host: string; port: number },
    readonly cutAfter: number,
    readonly maxCuts = 1,
  ) {}

  async start(): Promise<string> {
    this.#server = createServer((client) => {
      this.connections++;
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      let sent = 0;
      upstream.on('data', (chunk: Buffer) => {
        if (this.cuts < this.maxCuts && sent + chunk.length > this.cutAfter) {
          this.cuts++;
          client.write(chunk.subarray(0, this.cutAfter - sent), () => {
            client.destroy();
            upstream.destroy();
          });
          upstream.pause();
          return;
        }
        sent += chunk.length;
        if (!client.write(chunk)) upstream.pause();
      });
      client.on('drain', () => upstream.resume());
      upstream.on('end', () => client.end());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server?.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
