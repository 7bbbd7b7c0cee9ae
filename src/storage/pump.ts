import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

/** Where pumped bytes come from: a stored file, or a fill that is still growing. */
export interface PumpSource {
  /**
   * How many bytes at `position` may be read (up to `end`, inclusive), or 0 when the source
   * ended there: at once when they are there, else a promise that resolves once they are
   * (and rejects if the source failed).
   */
  ready(position: number, end: number): number | Promise<number>;
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  /**
   * Bytes at `position` that are already in memory (at most `max`), to be written as they
   * are instead of read into a buffer; undefined when they must be read.
   */
  peek?(position: number, max: number): Buffer | undefined;
}

/** A stored file: every byte is ready. */
export function fileSource(fd: FileHandle): PumpSource {
  return {
    ready: (position, end) => Math.max(0, end - position + 1),
    read: async (buffer, length, position) => (await fd.read(buffer, 0, length, position)).bytesRead,
  };
}

/** Bytes per read: big enough for few syscalls, small enough that 32 clients stay cheap. */
export const PUMP_BUFFER_BYTES = 256 * 1024;
const POOL_LIMIT = 64;
const pool: Buffer[] = [];

function take(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(PUMP_BUFFER_BYTES);
}

function give(buffer: Buffer): void {
  if (pool.length < POOL_LIMIT) pool.push(buffer);
}

/**
 * Copies bytes [start, end] of a source to a writable (the HTTP response) with two
 * pooled buffers: one is read into while the other is being written. A buffer returns
 * to the pool only once its write has completed, so nothing is allocated per chunk and
 * serving costs no garbage collection; memory per response is two buffers. Bytes the
 * source already holds in memory (a fill's newest chunks) are written as they are. Rejects if
 * the destination closes early (client gone), the source fails or is short.
 */
export async function pump(source: PumpSource, start: number, end: number, out: Writable): Promise<void> {
  const buffers = [take(), take()];
  const inflight: Array<Promise<void> | undefined> = [undefined, undefined];
  // A wait for the source also ends if the client goes away (a fill may take long to bring
  // more). A listener per such wait, removed after it: racing one long-lived promise instead
  // would pile up a reaction per chunk. Writes need no guard: their callback always comes,
  // with an error if the client went away.
  const guard = <T>(promise: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (out.destroyed) {
        promise.catch(() => undefined); // given up on: it must not reject unhandled later
        return reject(new Error('destination closed before the blob was sent'));
      }
      const onClose = () => reject(new Error('destination closed before the blob was sent'));
      out.once('close', onClose);
      promise.then(
        (value) => {
          out.off('close', onClose);
          resolve(value);
        },
        (err: unknown) => {
          out.off('close', onClose);
          reject(err);
        },
      );
    });
  let position = start;
  let turn = 0;
  try {
    while (position <= end) {
      const buffer = buffers[turn] as Buffer;
      if (inflight[turn]) await inflight[turn];
      const ready = source.ready(position, end);
      const available = typeof ready === 'number' ? ready : await guard(ready);
      if (available === 0) break;
      const length = Math.min(buffer.length, available);
      let chunk = source.peek?.(position, length);
      if (!chunk) {
        const bytesRead = await source.read(buffer, length, position);
        if (bytesRead === 0) throw new Error('blob file is shorter than its record');
        chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      }
      position += chunk.length;
      const write = new Promise<void>((resolve, reject) => out.write(chunk, (err) => (err ? reject(err) : resolve())));
      write.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
      inflight[turn] = write;
      turn ^= 1;
    }
    await Promise.all(inflight);
  } finally {
    // A buffer goes back to the pool once its write completed; one whose write failed is left to the GC.
    buffers.forEach((buffer, i) => {
      const write = inflight[i];
      if (write) write.then(() => give(buffer), () => undefined);
      else give(buffer);
    });
  }
}
