import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pumpFile, PUMP_BUFFER_BYTES } from './file-pump.js';

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
        await pumpFile(fd, start, end, out);
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

/** A stream (a reader following a fill). */
export function streamBody(source: Readable): BlobBody {
  return {
    writeTo: (out) => pipeline(source, out, { end: false }),
    stream: () => source,
    discard: () => source.destroy(),
  };
}
