import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { fileSource, pump, PUMP_BUFFER_BYTES, type PumpSource } from './pump.js';

/**
 * The bytes of a blob response, wherever they come from (a stored file or a fill in
 * progress). The HTTP edge pumps them into the socket; other callers take a stream.
 * Consumed once; whatever it holds (a descriptor, a reader slot) is released after.
 */
export interface BlobBody {
  /** Writes the bytes to out without ending it; rejects if the transfer breaks. */
  writeTo(out: Writable): Promise<void>;
  /** The same bytes as a stream. */
  stream(): Readable;
  /** Releases the body unused. */
  discard(): void;
}

/** Bytes [start, end] of a pump source (end Infinity: to wherever a fill ends). */
export function sourceBody(source: PumpSource, start: number, end: number, toStream: () => Readable, release: () => void): BlobBody {
  let used = false;
  const use = () => {
    if (used) throw new Error('a blob body is consumed once');
    used = true;
  };
  return {
    async writeTo(out) {
      use();
      try {
        await pump(source, start, end, out);
      } finally {
        release();
      }
    },
    stream() {
      use();
      const stream = toStream();
      stream.once('close', release);
      return stream;
    },
    discard() {
      if (used) return;
      used = true;
      release();
    },
  };
}

/** Bytes [start, end] of a stored file; the descriptor is closed when done. */
export function fileBody(fd: FileHandle, start: number, end: number): BlobBody {
  const toStream = () => (end < start ? Readable.from([]) : fd.createReadStream({ start, end, highWaterMark: PUMP_BUFFER_BYTES, autoClose: false }));
  return sourceBody(fileSource(fd), start, end, toStream, () => void fd.close().catch(() => undefined));
}
