import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { fileSource, pump, PUMP_BUFFER_BYTES, type PumpProgress, type PumpSource } from './pump.js';

/**
 * The bytes of a blob response, wherever they come from (a stored file or a fill in
 * progress). The HTTP edge pumps them into the socket; other callers take a stream.
 * Consumed once; whatever it holds (a descriptor, a reader slot) is released after.
 */
export interface BlobBody {
  /** Writes the bytes to out without ending it, counting what out took in progress; rejects if the transfer breaks. */
  writeTo(out: Writable, progress?: PumpProgress): Promise<void>;
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
    async writeTo(out, progress) {
      use();
      try {
        await pump(source, start, end, out, progress);
      } finally {
        release();
      }
    },
    stream() {
      use();
      const stream = toStream();
      // A file stream that does not close its descriptor never emits 'close': release at its end too.
      stream.once('end', release);
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

/** A growing source's bytes as a Readable, for callers that need a stream (the pump serves responses). */
export class SourceReader extends Readable {
  readonly #source: PumpSource;
  readonly #end: number;
  #position: number;
  #reading = false;

  constructor(source: PumpSource, start: number, end: number) {
    super({ highWaterMark: PUMP_BUFFER_BYTES });
    this.#source = source;
    this.#position = start;
    this.#end = end;
  }

  override _read(): void {
    if (!this.#reading) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#reading = true;
    try {
      for (;;) {
        if (this.destroyed) return;
        const available = await this.#source.ready(this.#position, this.#end);
        if (available === 0) {
          this.push(null);
          return;
        }
        const buffer = Buffer.allocUnsafe(Math.min(available, PUMP_BUFFER_BYTES));
        const n = await this.#source.read(buffer, buffer.length, this.#position);
        if (n === 0) throw new Error('blob file shorter than written');
        this.#position += n;
        if (!this.push(n === buffer.length ? buffer : buffer.subarray(0, n))) return;
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.#reading = false;
    }
  }
}
