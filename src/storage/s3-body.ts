import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import { SourceReader, sourceBody, type BlobBody } from './blob-body.js';
import type { PumpSource } from './pump.js';

/** Opens the object's bytes [start, end] (one ranged GET). */
export type RangeOpener = (start: number, end: number, signal: AbortSignal) => Promise<Readable>;

/** Ranged GET responses open now, in this process (tests check none is left open). */
let open = 0;
export function openS3Reads(): number {
  return open;
}

/**
 * Bytes [start, end] of a stored object as a BlobBody: one ranged GET when the body is
 * consumed (none if it is discarded, or empty), its chunks written as they arrive. The
 * response is destroyed once the body is done, whatever happened, so its socket is freed.
 */
export function s3Body(get: RangeOpener, start: number, end: number): BlobBody {
  if (end < start)
    return sourceBody(
      emptySource,
      start,
      end,
      () => ReadableStream.from([]),
      () => undefined,
    );
  const source = new RangeSource(get, start, end);
  return sourceBody(
    source,
    start,
    end,
    () => new SourceReader(source, start, end),
    () => source.close(),
  );
}

const emptySource: PumpSource = { ready: () => 0, read: async () => 0 };

/** A PumpSource over one GET response: the chunk at hand is peeked (written as it is) or copied. */
class RangeSource implements PumpSource {
  readonly #get: RangeOpener;
  readonly #start: number;
  readonly #end: number;
  readonly #abort = new AbortController();
  #response: Promise<AsyncIterator<Buffer>> | undefined;
  #stream: Readable | undefined;
  #chunk: Buffer | undefined;
  /** Where #chunk starts in the object. */
  #at: number;
  #closed = false;

  constructor(get: RangeOpener, start: number, end: number) {
    this.#get = get;
    this.#start = start;
    this.#end = end;
    this.#at = start;
  }

  async ready(position: number, end: number): Promise<number> {
    const chunks = await (this.#response ??= this.#open());
    while (this.#chunk === undefined || position >= this.#at + this.#chunk.length) {
      if (this.#chunk) {
        this.#at += this.#chunk.length;
        this.#chunk = undefined;
      }
      if (this.#at > this.#end) return 0;
      const next = await chunks.next();
      // A response shorter than the range asked for is a broken transfer, never a short blob that looks whole.
      if (next.done) throw new Error(`blob object ended at byte ${this.#at}, before ${this.#end + 1}`);
      this.#chunk = next.value;
    }
    return Math.min(end, this.#at + this.#chunk.length - 1) - position + 1;
  }

  async read(buffer: Buffer, length: number, position: number): Promise<number> {
    const available = await this.ready(position, this.#end);
    if (available === 0 || !this.#chunk) return 0;
    const from = position - this.#at;
    return this.#chunk.copy(buffer, 0, from, from + Math.min(length, available));
  }

  peek(position: number, max: number): Buffer | undefined {
    const chunk = this.#chunk;
    if (!chunk || position < this.#at || position >= this.#at + chunk.length) return undefined;
    const from = position - this.#at;
    return chunk.subarray(from, from + max);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#stream) {
      this.#stream.destroy();
      this.#stream = undefined;
      open--;
    }
  }

  async #open(): Promise<AsyncIterator<Buffer>> {
    if (this.#closed) throw new Error('blob body closed');
    const stream = await this.#get(this.#start, this.#end, this.#abort.signal);
    if (this.#closed) {
      stream.destroy();
      throw new Error('blob body closed');
    }
    this.#stream = stream;
    open++;
    return stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }
}
