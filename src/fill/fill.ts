import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.js';
import { StorageError } from '../errors/storage-error.js';
import { createDigester, type Digest } from '../oci/digest.js';
import type { BlobWriter } from '../ports/blob-backend.js';
import { SourceReader, sourceBody, type BlobBody } from '../storage/blob-body.js';
import type { PumpSource } from '../storage/pump.js';
import { LiveTail } from './live-tail.js';
import { WriteBatcher } from './write-batcher.js';

/** The upstream's bytes of one blob, as upstream/ delivers them (resumed there if the link breaks). */
export interface FillSource {
  /** Content-Length announced by the upstream, when it sent one. */
  size: number | undefined;
  chunks: AsyncIterable<Buffer>;
  /** Stops the transfer: the iteration rejects with this error. */
  abort(reason: Error): void;
}

/** How long a fill may take: its bytes at the minimum rate, and never less than minMs. */
export interface FillDeadline {
  minMs: number;
  minBytesPerSecond: number;
}

export interface FillOptions {
  digest: Digest;
  source: FillSource;
  writer: BlobWriter;
  deadline: FillDeadline;
  logger: Logger;
}

export type FillState = 'running' | 'verified' | 'failed';

/** A fill that ran past its deadline (an upstream dripping bytes): it fails like any upstream failure. */
export class FillDeadlineExceeded extends RegistryError {
  constructor(ms: number, received: number) {
    super('UNAVAILABLE', `blob transfer exceeded its deadline (${Math.round(ms / 1000)} s, ${received} bytes received)`, {
      detail: { upstream: 'timeout' },
    });
  }
}

/**
 * One download of one blob, read by any number of clients at their own pace. The bytes are
 * hashed as they arrive, kept in memory as the upstream's own chunks for readers that keep
 * up (LiveTail), and written in batches to a BlobWriter, from which readers further behind
 * read them back. The last byte is held back until the digest verifies, then released at
 * once: writing the rest, the fsync and the commit follow without holding any client, and a
 * reader arriving meanwhile still reads the verified bytes from here. On failure every
 * reader's transfer breaks, so no client takes a short or wrong blob for a whole one.
 * The writer is closed once the fill is over and its last reader is gone.
 */
export class Fill {
  /** Fills whose writer is not closed yet, and their readers, in this process (the tests check none is left behind). */
  static open = 0;
  static readers = 0;
  readonly digest: Digest;
  readonly expectedSize: number | undefined;
  state: FillState = 'running';
  error: Error | undefined;
  /** Bytes received and hashed. */
  received = 0;
  /** Bytes the writer has. */
  written = 0;
  /** Settles once every byte is verified, or the fill failed: readers can all finish then. */
  readonly finished: Promise<void>;
  /** The size once committed to the backend; undefined when the fill or its commit failed. Never rejects. */
  readonly stored: Promise<number | undefined>;
  readonly #opts: FillOptions;
  readonly #tail = new LiveTail();
  #readers = 0;
  #over = false;
  #closed = false;
  /** Resolves at the next progress or settlement: one promise shared by every waiting reader. */
  #changed!: Promise<void>;
  #signalChange!: () => void;
  #signalFinished!: () => void;

  constructor(opts: FillOptions) {
    Fill.open++;
    this.#opts = opts;
    this.digest = opts.digest;
    this.expectedSize = opts.source.size;
    this.#changed = this.#nextChange();
    this.finished = new Promise((resolve) => (this.#signalFinished = resolve));
    this.stored = this.#run();
  }

  /** Stops a running fill (a shutdown): it fails with this reason like any upstream failure, so nothing is stored. */
  cancel(reason: Error): void {
    if (this.state === 'running') this.#opts.source.abort(reason);
  }

  /** Why the fill failed (once state is 'failed'). */
  failure(): Error {
    return this.error ?? new Error('blob fill failed');
  }

  /** Total size once known: announced by the upstream, or counted at the end. */
  get size(): number | undefined {
    return this.state === 'verified' ? this.received : this.expectedSize;
  }

  get readers(): number {
    return this.#readers;
  }

  /** True once the writer is closed: read the blob from the backend (or fill it again). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Bytes [start, end] (inclusive; end undefined: to the end) as a response body that
   * follows the fill; undefined if the fill is closed or failed.
   */
  body(start = 0, end?: number): BlobBody | undefined {
    if (this.#closed || this.state === 'failed') return undefined;
    this.#readers++;
    Fill.readers++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#readers--;
      Fill.readers--;
      void this.#maybeClose();
    };
    const last = end ?? Number.POSITIVE_INFINITY;
    return sourceBody(this.#source, start, last, () => new SourceReader(this.#source, start, last), release);
  }

  async #run(): Promise<number | undefined> {
    const { digest, logger, writer } = this.#opts;
    const started = performance.now();
    const batcher = new WriteBatcher(writer, (written) => {
      this.written = written;
      this.#tail.trim(written);
    });
    const deadline = this.#armDeadline(started);
    try {
      await this.#download(batcher);
      this.state = 'verified';
    } catch (err) {
      this.state = 'failed';
      this.error = err as Error;
      batcher.abort();
      this.#opts.source.abort(err as Error);
      logger.warn(
        { digest: digest.value, received: this.received, written: this.written, err: this.error.message },
        'blob fill failed; nothing stored',
      );
    } finally {
      clearTimeout(deadline.timer);
      this.#signalFinished();
      this.#notify();
    }
    let stored: number | undefined;
    if (this.state === 'verified') {
      try {
        await batcher.finish();
        await writer.commit();
        stored = this.received;
        logger.info({ digest: digest.value, bytes: stored, ms: Math.round(performance.now() - started) }, 'blob stored');
      } catch (err) {
        const reason = err instanceof StorageError ? err.reason : undefined;
        logger.error(
          { digest: digest.value, bytes: this.received, reason, err: (err as Error).message },
          'blob verified and served, but not stored: local storage failed',
        );
      }
    }
    if (stored === undefined) await writer.cancel().catch(() => undefined);
    this.#over = true;
    await this.#maybeClose();
    return stored;
  }

  /** Hashes, holds and writes the upstream's chunks until the blob is complete and verified. */
  async #download(batcher: WriteBatcher): Promise<void> {
    const { digest, source } = this.#opts;
    const hash = createDigester(digest.algorithm);
    for await (const chunk of source.chunks) {
      hash.update(chunk);
      this.#tail.append(chunk);
      this.received += chunk.length;
      this.#notify();
      await batcher.add(chunk);
    }
    if (this.expectedSize !== undefined && this.received !== this.expectedSize) {
      throw new RegistryError('SIZE_INVALID', `upstream sent ${this.received} of ${this.expectedSize} bytes`, {
        status: 502,
        detail: { upstream: 'invalid' },
      });
    }
    if (`${digest.algorithm}:${hash.digest('hex')}` !== digest.value) {
      throw new RegistryError('DIGEST_INVALID', 'upstream content does not match its digest', { status: 502, detail: { upstream: 'invalid' } });
    }
  }

  /** Fails the fill once it has run longer than its bytes take at the minimum rate (and at least minMs). */
  #armDeadline(started: number): { timer: NodeJS.Timeout | undefined } {
    const { minMs, minBytesPerSecond } = this.#opts.deadline;
    const handle: { timer: NodeJS.Timeout | undefined } = { timer: undefined };
    const check = () => {
      const elapsed = performance.now() - started;
      const allowed = Math.max(minMs, ((this.expectedSize ?? this.received) / minBytesPerSecond) * 1000);
      if (elapsed >= allowed) {
        this.#opts.source.abort(new FillDeadlineExceeded(elapsed, this.received));
        return;
      }
      handle.timer = setTimeout(check, allowed - elapsed);
      handle.timer.unref();
    };
    handle.timer = setTimeout(check, minMs);
    handle.timer.unref();
    return handle;
  }

  readonly #source: PumpSource = {
    ready: (position, end) => this.#readyNow(position, end) ?? this.#readyLater(position, end),
    read: (buffer, length, position) => this.#read(buffer, length, position),
    peek: (position, max) => this.#tail.slice(position, max),
  };

  async #read(buffer: Buffer, length: number, position: number): Promise<number> {
    const copied = this.#tail.copy(buffer, length, position);
    if (copied > 0) return copied;
    // Below the tail, so the writer has it.
    return this.#opts.writer.read(buffer, length, position);
  }

  /** Bytes readable at position right now (0: the end), or undefined to wait for more. Throws if the fill failed. */
  #readyNow(position: number, end: number): number | undefined {
    if (this.state === 'failed') throw this.failure();
    const verified = this.state === 'verified';
    // All but the last byte received until the digest verifies.
    const readable = verified ? this.received : Math.max(0, this.received - 1);
    const stop = Math.min(readable, end + 1);
    if (position < stop) return stop - position;
    if (verified || position > end) return 0;
    return undefined;
  }

  async #readyLater(position: number, end: number): Promise<number> {
    for (;;) {
      await this.#changed;
      const now = this.#readyNow(position, end);
      if (now !== undefined) return now;
    }
  }

  #notify(): void {
    const signal = this.#signalChange;
    this.#changed = this.#nextChange();
    signal();
  }

  #nextChange(): Promise<void> {
    return new Promise((resolve) => (this.#signalChange = resolve));
  }

  async #maybeClose(): Promise<void> {
    if (this.#closed || !this.#over || this.#readers > 0) return;
    this.#closed = true;
    Fill.open--;
    this.#tail.clear();
    await this.#opts.writer.close().catch(() => undefined);
  }
}
