import type { FileHandle } from 'node:fs/promises';
import type { Digest } from '../oci/digest.js';
import { SourceReader, sourceBody, type BlobBody } from './blob-body.js';
import type { FillView } from './fill-view.js';
import type { PumpSource } from './pump.js';

/**
 * What a fill (Fill) and a fill followed from another process (RemoteFill) share: a blob
 * still being written, read by any number of clients at their own pace. Readers wait on
 * one shared promise for progress; the last byte is held back until the blob is
 * committed (subclasses say how much is readable meanwhile); on failure every reader's
 * wait rejects. The descriptor closes once the fill settled and its readers are gone.
 */
export abstract class GrowingBlob implements FillView {
  abstract readonly remote: boolean;
  abstract readonly settled: Promise<void>;
  readonly digest: Digest;
  readonly expectedSize: number | undefined;
  state: FillView['state'] = 'running';
  error: Error | undefined;
  /** Bytes on disk. */
  written = 0;
  protected readonly fd: FileHandle;
  #readers = 0;
  #closed = false;
  /** Resolves at the next progress or settlement: one promise shared by every waiting reader. */
  #changed: Promise<void>;
  #signalChange!: () => void;

  protected constructor(digest: Digest, expectedSize: number | undefined, fd: FileHandle) {
    this.digest = digest;
    this.expectedSize = expectedSize;
    this.fd = fd;
    this.#changed = this.#nextChange();
  }

  /** Total size once known: announced by the upstream, or counted at the end. */
  get size(): number | undefined {
    return this.state === 'done' ? this.written : this.expectedSize;
  }

  /**
   * Bytes [start, end] (inclusive; end undefined: to the end) as a response body that
   * follows the fill; undefined if the fill is already closed (read it from disk).
   */
  body(start = 0, end?: number): BlobBody | undefined {
    if (this.#closed || this.state === 'failed') return undefined;
    this.#readers++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#readers--;
      this.#maybeClose();
    };
    const last = end ?? Number.POSITIVE_INFINITY;
    return sourceBody(this.#source, start, last, () => new SourceReader(this.#source, start, last), release);
  }

  /** How many bytes readers may have while the fill runs (never the last one). */
  protected abstract readableWhileRunning(): number;

  /** Reads readable bytes at position (a positional read on the fill's own descriptor unless overridden). */
  protected async readAt(buffer: Buffer, length: number, position: number): Promise<number> {
    return (await this.fd.read(buffer, 0, length, position)).bytesRead;
  }

  /** Readable bytes already in memory at position, to be written without a copy. */
  protected peekAt(_position: number, _max: number): Buffer | undefined {
    return undefined;
  }

  /** Wakes every waiting reader: more bytes, or the end. */
  protected notify(): void {
    const signal = this.#signalChange;
    this.#changed = this.#nextChange();
    signal();
  }

  /** Call once the fill is done or failed. */
  protected settle(): void {
    this.notify();
    this.#maybeClose();
  }

  readonly #source: PumpSource = {
    ready: (position, end) => this.#readyNow(position, end) ?? this.#readyLater(position, end),
    read: (buffer, length, position) => this.readAt(buffer, length, position),
    peek: (position, max) => this.peekAt(position, max),
  };

  /** Bytes readable at position right now (0: the end), or undefined to wait for more. Throws if the fill failed. */
  #readyNow(position: number, end: number): number | undefined {
    if (this.state === 'failed') throw this.error;
    const done = this.state === 'done';
    const readable = done ? this.written : Math.max(0, this.readableWhileRunning());
    const stop = Math.min(readable, end + 1);
    if (position < stop) return stop - position;
    if (done || position > end) return 0;
    return undefined;
  }

  async #readyLater(position: number, end: number): Promise<number> {
    for (;;) {
      await this.#changed;
      const now = this.#readyNow(position, end);
      if (now !== undefined) return now;
    }
  }

  #nextChange(): Promise<void> {
    return new Promise((resolve) => (this.#signalChange = resolve));
  }

  #maybeClose(): void {
    if (this.#closed || this.state === 'running' || this.#readers > 0) return;
    this.#closed = true;
    this.fd.close().catch(() => undefined);
  }
}
