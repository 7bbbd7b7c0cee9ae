import { UpstreamError } from '../errors/upstream-error.js';
import { errorForNetworkFailure, headerValue } from './errors.js';
import type { UpstreamReply } from './client.js';

/**
 * A small upstream body (a manifest, a referrers list) read whole, refused past maxBytes:
 * at once from its Content-Length, else as soon as the bytes pass it. A network failure
 * mid-body is an UpstreamError naming `what`.
 */
export async function readLimited(reply: UpstreamReply, maxBytes: number, tooLarge: () => UpstreamError, what: string): Promise<Buffer> {
  const declared = Number(headerValue(reply.headers['content-length']));
  if (Number.isFinite(declared) && declared > maxBytes) {
    reply.body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of reply.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) {
        reply.body.destroy();
        throw tooLarge();
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    throw errorForNetworkFailure(err, what);
  }
  return Buffer.concat(chunks, total);
}
