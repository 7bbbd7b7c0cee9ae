import { StorageError } from '../errors/storage-error.js';
import type { BlobWriter } from '../ports/blob-backend.js';

/** Bytes gathered before a write. */
const WRITE_BATCH_BYTES = 512 * 1024;
/** A smaller batch is written this long after its first byte (an upstream slower than the disk, or paused). */
const WRITE_DELAY_MS = 20;

/**
 * Appends a fill's chunks to its BlobWriter in batches, one write at a time, in order,
 * while the next chunks are hashed and gathered. A batch is written when it holds
 * WRITE_BATCH_BYTES or WRITE_DELAY_MS after its first chunk, whichever comes first: few
 * writes when the upstream is fast, and the file never lags the upstream by more than a
 * moment for late joiners. `onWritten` reports how far the writer has the bytes, in order.
 * The first write that fails is reported to `onFailed` (as a StorageError) and ends the
 * writing: later chunks are dropped, so the fill can go on serving from memory.
 */
export class WriteBatcher {
  readonly #writer: BlobWriter;
  readonly #onWritten: (written: number) => void;
  readonly #onFailed: (err: StorageError) => void;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #offset = 0;
  /** The chain of writes, in order; never rejects (a failure is kept in #failure). */
  #inflight: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #failure: StorageError | undefined;

  constructor(writer: BlobWriter, onWritten: (written: number) => void, onFailed: (err: StorageError) => void) {
    this.#writer = writer;
    this.#onWritten = onWritten;
    this.#onFailed = onFailed;
  }

  /** The write that failed, if one did. */
  get failure(): StorageError | undefined {
    return this.#failure;
  }

  /** Resolves once the chunk is accepted; waits for the previous batch when this one is full. A no-op once a write failed. */
  async add(chunk: Buffer): Promise<void> {
    if (this.#failure) return;
    if (this.#batchBytes === 0) this.#timer = setTimeout(() => this.#startWrite(), WRITE_DELAY_MS);
    this.#batch.push(chunk);
    this.#batchBytes += chunk.length;
    if (this.#batchBytes >= WRITE_BATCH_BYTES) {
      await this.#inflight; // the previous batch is written first: memory stays about two batches
      this.#startWrite();
    }
  }

  /** Writes what is left; resolves once every byte is written, rejects if a write failed. */
  async finish(): Promise<void> {
    this.#startWrite();
    await this.#inflight;
    if (this.#failure) throw this.#failure;
  }

  /** Stops the delayed write of a fill that failed. */
  abort(): void {
    clearTimeout(this.#timer);
    this.#batch = [];
    this.#batchBytes = 0;
  }

  #startWrite(): void {
    clearTimeout(this.#timer);
    if (this.#batchBytes === 0 || this.#failure) return;
    const buffers = this.#batch;
    const end = this.#offset + this.#batchBytes;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#offset = end;
    // Chained: one write at a time, so `written` only grows and never passes a gap.
    this.#inflight = this.#inflight.then(async () => {
      if (this.#failure) return;
      try {
        await this.#writer.write(buffers);
      } catch (err) {
        this.#fail(err);
        return;
      }
      this.#onWritten(end);
    });
  }

  #fail(err: unknown): void {
    this.#failure = err instanceof StorageError ? err : new StorageError('write temp file', err);
    this.abort();
    this.#onFailed(this.#failure);
  }
}
