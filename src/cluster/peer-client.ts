import { Agent, request } from 'undici';
import { RegistryError } from '../errors/registry-error.js';
import type { FillSource } from '../fill/fill.js';
import { PEER_FILL_PATH, type ClaimOwner } from '../ports/cluster.js';

/** The owner cannot be reached at all (refused, no route, timed out connecting): it is dead, or cut off. */
export class PeerUnreachable extends Error {
  override name = 'PeerUnreachable';
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

export interface PeerClientOptions {
  secret: string;
  connectTimeoutMs: number;
  /** The owner answers once its own upstream GET has its headers: at least the upstream's deadline. */
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
}

/**
 * Streams a blob from the replica that owns its fill, as its bytes arrive there: one
 * upstream GET serves the clients of every replica. The owner answers 404 once it no
 * longer has the fill or the blob (the caller claims again); a connection that cannot be
 * made is PeerUnreachable (the caller takes the claim over). The bytes are verified by the
 * caller's Fill like an upstream's: a replica cannot slip in a wrong blob.
 */
export class PeerClient {
  readonly #secret: string;
  readonly #agent: Agent;

  constructor(options: PeerClientOptions) {
    this.#secret = options.secret;
    this.#agent = new Agent({
      connectTimeout: options.connectTimeoutMs,
      headersTimeout: options.headersTimeoutMs,
      bodyTimeout: options.bodyTimeoutMs,
      connections: 64,
    });
  }

  /** The owner's stream of the blob, or 'gone' when it has neither the fill nor the blob any more. */
  async open(owner: ClaimOwner, digest: string): Promise<FillSource | 'gone'> {
    if (!owner.address) throw new PeerUnreachable(`replica ${owner.instance} has no address`);
    const url = new URL(`${PEER_FILL_PATH}${digest}`, owner.address);
    let reply: Awaited<ReturnType<typeof request>>;
    try {
      reply = await request(url, {
        method: 'GET',
        dispatcher: this.#agent,
        headers: { authorization: `Bearer ${this.#secret}` },
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (UNREACHABLE.has(code)) throw new PeerUnreachable(`replica ${owner.instance} at ${owner.address} unreachable: ${code}`, { cause: err });
      throw new RegistryError('UNAVAILABLE', `replica ${owner.instance} did not answer: ${(err as Error).message}`);
    }
    if (reply.statusCode === 404) {
      await reply.body.dump().catch(() => undefined);
      return 'gone';
    }
    if (reply.statusCode !== 200) {
      await reply.body.dump().catch(() => undefined);
      throw new RegistryError('UNAVAILABLE', `replica ${owner.instance} answered ${reply.statusCode} for the blob it is filling`, {
        detail: { digest },
      });
    }
    const length = reply.headers['content-length'];
    const size = typeof length === 'string' ? Number(length) : undefined;
    const body = reply.body;
    async function* chunks(): AsyncGenerator<Buffer> {
      let received = 0;
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          received += chunk.length;
          yield chunk;
        }
      } catch (err) {
        throw new RegistryError('UNAVAILABLE', `the replica filling this blob broke off: ${(err as Error).message}`, {
          detail: { digest, received },
        });
      }
      if (size !== undefined && received !== size) {
        throw new RegistryError('UNAVAILABLE', `the replica filling this blob ended after ${received} of ${size} bytes`, { detail: { digest } });
      }
    }
    return { size, chunks: chunks(), abort: (reason) => body.destroy(reason) };
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}
