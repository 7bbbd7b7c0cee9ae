import type { ServerResponse } from 'node:http';

const counters = new WeakMap<ServerResponse, { bytes: number }>();

function sizeOf(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/**
 * Counts the body bytes handed to this response (write and end), whoever writes them: the
 * blob pump, or Hono's adapter for JSON bodies that carry no Content-Length. Installed once
 * per response; every caller gets the same count.
 */
export function countBodyBytes(res: ServerResponse): () => number {
  let counter = counters.get(res);
  if (!counter) {
    const state = { bytes: 0 };
    counter = state;
    counters.set(res, state);
    // Bound to this response: the originals run exactly as before, only counted.
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      state.bytes += sizeOf(chunk, rest[0]);
      return write(chunk, ...rest);
    }) as ServerResponse['write'];
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      state.bytes += sizeOf(chunk, rest[0]);
      return end(chunk, ...rest);
    }) as ServerResponse['end'];
  }
  const counted = counter;
  return () => counted.bytes;
}
