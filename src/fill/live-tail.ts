/** Bytes already on disk kept in memory for readers just behind the fill. */
const KEEP_WRITTEN_BYTES = 1024 * 1024;

/**
 * The newest bytes of a fill, kept in memory as the upstream's own chunks so readers
 * that have caught up with the download are served from memory (no disk round trip, no
 * wait for the write). Holds every byte not yet written to disk (those chunks are held
 * by the writer's batch anyway) plus about 1 MiB already written; older bytes are read
 * from the file. Invariant: start <= bytes written, so whatever is not here is on disk;
 * except once the writer failed, when the fill drops only what every reader has passed
 * (`dropBelow`) and takes no new reader from before `start`.
 */
export class LiveTail {
  #chunks: Buffer[] = [];
  /** File offset of the first byte of #chunks[0]. */
  #start = 0;
  #end = 0;

  /** Offset of the oldest byte held here. */
  get start(): number {
    return this.#start;
  }

  /** Bytes held in memory. */
  get held(): number {
    return this.#end - this.#start;
  }

  append(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#end += chunk.length;
  }

  /** Drops chunks that are on disk (below `written`) once more than the keep limit is held. */
  trim(written: number): void {
    for (;;) {
      const first = this.#chunks[0];
      if (!first) return;
      const firstEnd = this.#start + first.length;
      if (firstEnd > written || this.#end - firstEnd < KEEP_WRITTEN_BYTES) return;
      this.#chunks.shift();
      this.#start = firstEnd;
    }
  }

  /** Drops the chunks that end at or before `position` (every reader is past them). */
  dropBelow(position: number): void {
    for (;;) {
      const first = this.#chunks[0];
      if (!first || this.#start + first.length > position) return;
      this.#chunks.shift();
      this.#start += first.length;
    }
  }

  clear(): void {
    this.#chunks = [];
    this.#start = this.#end;
  }

  /** The held bytes from `position` as one chunk's slice (at most `max` bytes), without copying. */
  slice(position: number, max: number): Buffer | undefined {
    if (position < this.#start || position >= this.#end || max <= 0) return undefined;
    let offset = this.#start;
    for (const chunk of this.#chunks) {
      const chunkEnd = offset + chunk.length;
      if (position < chunkEnd) return chunk.subarray(position - offset, Math.min(chunk.length, position - offset + max));
      offset = chunkEnd;
    }
    return undefined;
  }

  /** Copies held bytes from `position` into buffer (at most `length`): how many, 0 if not held. */
  copy(buffer: Buffer, length: number, position: number): number {
    let copied = 0;
    while (copied < length) {
      const part = this.slice(position + copied, length - copied);
      if (!part) break;
      part.copy(buffer, copied);
      copied += part.length;
    }
    return copied;
  }
}
