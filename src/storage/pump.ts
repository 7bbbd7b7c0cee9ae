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

/** Bytes the destination has taken so far (its writes completed), for logging what a client really got. */
export interface PumpProgress {
  bytes: number;
}

export class DestinationClosed extends Error {
  override name = 'DestinationClosed';
  constructor() {
    super('destination closed before the blob was sent');
  }
}

/**
 * Copies bytes [start, end] of a source to a writable (the HTTP response) with two
 * pooled buffers: one is read into while the other is being written. A buffer returns
 * to the pool only once its write has completed, so nothing is allocated per chunk and
 * serving costs no garbage collection; memory per response is two buffers. Bytes the
 * source already holds in memory (a fill's newest chunks) are written as they are.
 *
 * It cannot hang: one close listener per pump releases whatever it waits on (the source,
 * or a write whose callback Node may never call for a socket destroyed before its close
 * event), and nothing is written to a destination already destroyed. Rejects if the
 * destination closes early (client gone), the source fails or is short.
 */
export async function pump(source: PumpSource, start: number, end: number, out: Writable, progress?: PumpProgress): Promise<void> {
  const buffers = [take(), take()];
  const inflight: Array<Promise<void> | undefined> = [undefined, undefined];
  let closed = out.destroyed;
  /** The rejecter of the one wait in progress (the loop awaits one thing at a time). */
  let abortWait: ((err: Error) => void) | undefined;
  const onClose = () => {
    closed = true;
    abortWait?.(new DestinationClosed());
  };
  out.once('close', onClose);
  const wait = <T>(promise: Promise<T>): Promise<T> => {
    if (closed) {
      promise.catch(() => undefined); // given up on: it must not reject unhandled later
      return Promise.reject(new DestinationClosed());
    }
    return new Promise<T>((resolve, reject) => {
      abortWait = reject;
      promise.then(
        (value) => {
          abortWait = undefined;
          resolve(value);
        },
        (err: Error) => {
          abortWait = undefined;
          reject(err);
        },
      );
    });
  };
  let position = start;
  let turn = 0;
  try {
    while (position <= end) {
      const buffer = buffers[turn] as Buffer;
      const previous = inflight[turn];
      if (previous) await wait(previous);
      const ready = source.ready(position, end);
      const available = typeof ready === 'number' ? ready : await wait(ready);
      if (available === 0) break;
      const length = Math.min(buffer.length, available);
      let chunk = source.peek?.(position, length);
      if (!chunk) {
        const bytesRead = await wait(source.read(buffer, length, position));
        if (bytesRead === 0) throw new Error('blob file is shorter than its record');
        chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      }
      if (closed || out.destroyed) throw new DestinationClosed();
      position += chunk.length;
      const bytes = chunk;
      const write = new Promise<void>((resolve, reject) =>
        out.write(bytes, (err) => {
          if (err) return reject(err);
          if (progress) progress.bytes += bytes.length;
          resolve();
        }),
      );
      write.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
      inflight[turn] = write;
      turn ^= 1;
    }
    for (const write of inflight) if (write) await wait(write);
  } finally {
    out.off('close', onClose);
    // A buffer goes back to the pool once its write completed; one whose write failed or never completes is left to the GC.
    buffers.forEach((buffer, i) => {
      const write = inflight[i];
      if (write)
        write.then(
          () => give(buffer),
          () => undefined,
        );
      else give(buffer);
    });
  }
}
