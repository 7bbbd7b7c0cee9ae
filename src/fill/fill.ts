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
  /** Where the bytes are stored; undefined for a pass-through (the store cannot write: see `unstored`). */
  writer: BlobWriter | undefined;
  /** Why there is no writer (a pass-through). */
  unstored?: StorageError;
  deadline: FillDeadline;
  logger: Logger;
  /** A write or the commit failed: the blob is served but not stored. Called at most once. */
  onStorageFailure?: (err: StorageError) => void;
}

/**
 * Once the writer failed, bytes live in memory until every reader has them; the upstream
 * is read no further ahead of the slowest reader than this.
 */
export const PASS_THROUGH_HOLD_BYTES = 4 * 1024 * 1024;

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
 *
 * A local store that cannot write (disk full, read-only, I/O) is not the clients' problem:
 * once the writer fails (or when there is none) the fill goes on without it, still
 * hashing and serving its readers from memory, and reads the upstream only as fast as its
 * slowest reader takes the bytes (PASS_THROUGH_HOLD_BYTES ahead at most). A reader from
 * before what memory holds is refused (`body` is undefined: it starts its own
 * pass-through), and a pass-through left with no reader stops. Nothing is stored.
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
  /** Why the blob is not stored although it may be served: no writer, or a write or the commit failed. */
  storageFailure: StorageError | undefined;
  readonly #opts: FillOptions;
  readonly #tail = new LiveTail();
  #readers = 0;
  /** Where each reader is: once the writer failed, memory holds what the slowest one still needs. */
  readonly #positions = new Set<{ position: number }>();
  /** No writer, or it failed: the bytes are only in memory (and below the tail, in what the writer took before). */
  #memoryOnly: boolean;
  #over = false;
  #closed = false;
  /** Resolves at the next progress or settlement: one promise shared by every waiting reader. */
  #changed!: Promise<void>;
  #signalChange!: () => void;
  #signalFinished!: () => void;
  /** Resolves when a reader moves on or leaves (while memory only): the download waits on it. */
  #drained!: Promise<void>;
  #signalDrained!: () => void;
  /** Time spent waiting for slow readers (memory only), which the deadline does not count: the upstream was not slow. */
  #pacedMs = 0;
  #pacingSince: number | undefined;

  constructor(opts: FillOptions) {
    Fill.open++;
    this.#opts = opts;
    this.digest = opts.digest;
    this.expectedSize = opts.source.size;
    this.#memoryOnly = opts.writer === undefined;
    this.storageFailure = opts.writer === undefined ? opts.unstored : undefined;
    this.#changed = this.#nextChange();
    this.#drained = new Promise((resolve) => (this.#signalDrained = resolve));
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

  /** True once the fill serves from memory only (no writer, or it failed): it stores nothing. */
  get passThrough(): boolean {
    return this.#memoryOnly;
  }

  /**
   * Bytes [start, end] (inclusive; end undefined: to the end) as a response body that
   * follows the fill; undefined if the fill is closed or failed, or serves from memory
   * only and no longer holds `start`.
   */
  body(start = 0, end?: number): BlobBody | undefined {
    if (this.#closed || this.state === 'failed') return undefined;
    if (this.#memoryOnly && start < this.#tail.start) return undefined;
    this.#readers++;
    Fill.readers++;
    const reader = { position: start };
    this.#positions.add(reader);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#readers--;
      Fill.readers--;
      this.#positions.delete(reader);
      this.#readerMoved();
      // Nobody left to serve and nowhere to store: stop reading the upstream.
      if (this.#memoryOnly && this.#readers === 0 && this.state === 'running') this.#opts.source.abort(this.#unstoredReason());
      void this.#maybeClose();
    };
    const last = end ?? Number.POSITIVE_INFINITY;
    const source: PumpSource = {
      ready: (position, until) => {
        // A reader asks for `position` once everything before it is handed to its socket.
        reader.position = position;
        this.#readerMoved();
        return this.#source.ready(position, until);
      },
      read: (buffer, length, position) => this.#read(buffer, length, position),
      peek: (position, max) => this.#tail.slice(position, max),
    };
    return sourceBody(source, start, last, () => new SourceReader(source, start, last), release);
  }

  async #run(): Promise<number | undefined> {
    const { digest, logger, writer } = this.#opts;
    const started = performance.now();
    const batcher =
      writer &&
      new WriteBatcher(
        writer,
        (written) => {
          this.written = written;
          if (!this.#memoryOnly) this.#tail.trim(written);
        },
        (err) => this.#storageFailed(err, true),
      );
    const deadline = this.#armDeadline(started);
    try {
      await this.#download(batcher);
      this.state = 'verified';
    } catch (err) {
      this.state = 'failed';
      this.error = err as Error;
      batcher?.abort();
      this.#opts.source.abort(err as Error);
      const fields = { digest: digest.value, received: this.received, written: this.written, err: this.error.message };
      if (err === this.storageFailure) logger.debug(fields, 'blob pass-through stopped: no reader left');
      else logger.warn(fields, 'blob fill failed; nothing stored');
    } finally {
      clearTimeout(deadline.timer);
      this.#signalFinished();
      this.#notify();
    }
    let stored: number | undefined;
    if (this.state === 'verified' && writer && batcher && !this.#memoryOnly) {
      try {
        await batcher.finish();
        await writer.commit();
        stored = this.received;
        logger.info({ digest: digest.value, bytes: stored, ms: Math.round(performance.now() - started) }, 'blob stored');
      } catch (err) {
        this.#storageFailed(err instanceof StorageError ? err : new StorageError('commit blob', err), false);
      }
    }
    if (this.state === 'verified' && stored === undefined) {
      logger.debug({ digest: digest.value, bytes: this.received, err: this.storageFailure?.message }, 'blob served but not stored');
    }
    if (stored === undefined) await writer?.cancel().catch(() => undefined);
    this.#over = true;
    await this.#maybeClose();
    return stored;
  }

  /** Hashes, holds and writes the upstream's chunks until the blob is complete and verified. */
  async #download(batcher: WriteBatcher | undefined): Promise<void> {
    const { digest, source } = this.#opts;
    const hash = createDigester(digest.algorithm);
    for await (const chunk of source.chunks) {
      hash.update(chunk);
      this.#tail.append(chunk);
      this.received += chunk.length;
      this.#notify();
      if (!this.#memoryOnly) await batcher?.add(chunk);
      if (this.#memoryOnly) await this.#keepPace();
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

  /** Memory only: waits until the slowest reader leaves room for more (fails if no reader is left to wait for). */
  async #keepPace(): Promise<void> {
    this.#trim();
    while (this.#tail.held > PASS_THROUGH_HOLD_BYTES) {
      if (this.#readers === 0) throw this.#unstoredReason();
      this.#pacingSince = performance.now();
      try {
        await this.#drained;
      } finally {
        this.#pacedMs += performance.now() - this.#pacingSince;
        this.#pacingSince = undefined;
      }
    }
  }

  /** A write or the commit failed (reported once); a failed write leaves the bytes to memory from now on. */
  #storageFailed(err: StorageError, writing: boolean): void {
    if (writing) this.#memoryOnly = true;
    if (this.storageFailure) return;
    this.storageFailure = err;
    this.#opts.onStorageFailure?.(err);
    this.#readerMoved();
  }

  #unstoredReason(): StorageError {
    return (this.storageFailure ??= new StorageError('write temp file', new Error('no writer')));
  }

  /** Memory only: drops what every reader has passed (nothing while no reader is here yet) and wakes the download. */
  #trim(): void {
    let slowest = Number.POSITIVE_INFINITY;
    for (const reader of this.#positions) slowest = Math.min(slowest, reader.position);
    if (slowest !== Number.POSITIVE_INFINITY) this.#tail.dropBelow(slowest);
  }

  #readerMoved(): void {
    if (!this.#memoryOnly) return;
    this.#trim();
    const signal = this.#signalDrained;
    this.#drained = new Promise((resolve) => (this.#signalDrained = resolve));
    signal();
  }

  /** Fails the fill once it has run longer than its bytes take at the minimum rate (and at least minMs), not counting time paced by slow readers. */
  #armDeadline(started: number): { timer: NodeJS.Timeout | undefined } {
    const { minMs, minBytesPerSecond } = this.#opts.deadline;
    const handle: { timer: NodeJS.Timeout | undefined } = { timer: undefined };
    const check = () => {
      const now = performance.now();
      const elapsed = now - started - this.#pacedMs - (this.#pacingSince === undefined ? 0 : now - this.#pacingSince);
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
    // Below the tail, so the writer has it (still readable after a failed write: it took these bytes before).
    return this.#opts.writer ? this.#opts.writer.read(buffer, length, position) : 0;
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
    await this.#opts.writer?.close().catch(() => undefined);
  }
}
