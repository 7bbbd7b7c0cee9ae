import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { fileSource, pump, PUMP_BUFFER_BYTES, type PumpSource } from './pump.js';

/**
 * The bytes of a blob response, wherever they come from (a stored file or a fill in
 * progress). The HTTP edge writes them into the socket; other callers take a stream.
 */
export interface BlobBody {
  /** Writes the bytes to out without ending it; rejects if the transfer breaks. */
  writeTo(out: Writable): Promise<void>;
  /** The same bytes as a stream. */
  stream(): Readable;
  /** Releases the body unused. */
  discard(): void;
}

/** Bytes [start, end] of a stored file; the descriptor is closed when done. */
export function fileBody(fd: FileHandle, start: number, end: number): BlobBody {
  let used = false;
  const once = () => {
    if (used) throw new Error('a blob body is consumed once');
    used = true;
  };
  return {
    async writeTo(out) {
      once();
      try {
        await pump(fileSource(fd), start, end, out);
      } finally {
        await fd.close().catch(() => undefined);
      }
    },
    stream() {
      once();
      if (end < start) {
        void fd.close().catch(() => undefined);
        return Readable.from([]);
      }
      return fd.createReadStream({ start, end, highWaterMark: PUMP_BUFFER_BYTES, autoClose: true });
    },
    discard() {
      if (used) return;
      used = true;
      void fd.close().catch(() => undefined);
    },
  };
}

/**
 * Bytes [start, end] of a fill in progress (end Infinity: to wherever it ends). Pumped
 * into a response like a file; as a stream only when a caller needs one.
 */
export function fillBody(source: PumpSource, start: number, end: number, toStream: () => Readable, release: () => void): BlobBody {
  let used = false;
  const once = () => {
    if (used) throw new Error('a blob body is consumed once');
    used = true;
  };
  return {
    async writeTo(out) {
      once();
      try {
        await pump(source, start, end, out);
      } finally {
        release();
      }
    },
    stream() {
      once();
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
