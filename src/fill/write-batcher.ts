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
 */
export class WriteBatcher {
  readonly #writer: BlobWriter;
  readonly #onWritten: (written: number) => void;
  #batch: Buffer[] = [];
  #batchBytes = 0;
  #offset = 0;
  /** The chain of writes, in order; rejects (and stays rejected) once a write failed. */
  #inflight: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;

  constructor(writer: BlobWriter, onWritten: (written: number) => void) {
    this.#writer = writer;
    this.#onWritten = onWritten;
  }

  /** Resolves once the chunk is accepted; waits for the previous batch when this one is full. */
  async add(chunk: Buffer): Promise<void> {
    if (this.#batchBytes === 0) this.#timer = setTimeout(() => this.#startWrite(), WRITE_DELAY_MS);
    this.#batch.push(chunk);
    this.#batchBytes += chunk.length;
    if (this.#batchBytes >= WRITE_BATCH_BYTES) {
      await this.#inflight; // the previous batch is written first: memory stays about two batches
      this.#startWrite();
    }
  }

  /** Writes what is left; resolves once every byte is written. */
  async finish(): Promise<void> {
    this.#startWrite();
    await this.#inflight;
  }

  /** Stops the delayed write of a fill that failed. */
  abort(): void {
    clearTimeout(this.#timer);
    this.#batch = [];
    this.#batchBytes = 0;
  }

  #startWrite(): void {
    clearTimeout(this.#timer);
    if (this.#batchBytes === 0) return;
    const buffers = this.#batch;
    const end = this.#offset + this.#batchBytes;
    this.#batch = [];
    this.#batchBytes = 0;
    this.#offset = end;
    // Chained: one write at a time, so `written` only grows and never passes a gap.
    this.#inflight = this.#inflight.then(async () => {
      await this.#writer.write(buffers);
      this.#onWritten(end);
    });
    this.#inflight.catch(() => undefined); // awaited by the next add() or finish()
  }
}
