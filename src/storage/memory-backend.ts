import { randomBytes } from 'node:crypto';
import { StorageError } from '../errors/storage-error.js';
import type { Digest } from '../oci/digest.js';
import type { BlobBackend, BlobInfo, BlobWriter, StoredBlob } from '../ports/blob-backend.js';
import { SourceReader, sourceBody, type BlobBody } from './blob-body.js';
import type { PumpSource } from './pump.js';

/** A temp object of a writer in progress: whose it is, and when it was last written. */
interface TempObject {
  instance: string;
  touchedAt: number;
}

/**
 * What several MemoryBlobBackends share, as processes share a data dir: the committed
 * blobs (immutable buffers) and the temp objects of writers in progress.
 */
export class MemoryBlobStore {
  readonly blobs = new Map<string, Buffer>();
  readonly temps = new Map<string, TempObject>();
}

/**
 * The blob port in memory, for unit tests of the core: the same semantics as the
 * filesystem backend (src/storage/fs-backend.ts). A writer's bytes become a blob only on
 * commit; a temp object swept by another instance makes its writer's commit fail, as a
 * temp file unlinked under a writer does.
 */
export class MemoryBlobBackend implements BlobBackend {
  readonly store: MemoryBlobStore;
  /** This instance's id in temp object names (random per start, like the filesystem's). */
  readonly instance: string;
  #sequence = 0;

  constructor(store: MemoryBlobStore = new MemoryBlobStore(), instance: string = randomBytes(6).toString('hex')) {
    this.store = store;
    this.instance = instance;
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    const bytes = this.store.blobs.get(digest.value);
    return bytes && { size: bytes.length };
  }

  async open(digest: Digest): Promise<StoredBlob | undefined> {
    const bytes = this.store.blobs.get(digest.value);
    if (!bytes) return undefined;
    // The buffer is never changed once committed: a reader keeps it even if the blob is deleted (as an open file).
    return { size: bytes.length, body: (start, end) => bufferBody(bytes, start, end), close: async () => undefined };
  }

  async writer(digest: Digest): Promise<BlobWriter> {
    const name = `${this.instance}.${digest.hex.slice(0, 16)}.${++this.#sequence}`;
    this.store.temps.set(name, { instance: this.instance, touchedAt: Date.now() });
    return new MemoryBlobWriter(this.store, name, digest);
  }

  async delete(digest: Digest): Promise<boolean> {
    return this.store.blobs.delete(digest.value);
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const [digest, bytes] of [...this.store.blobs]) yield { digest, size: bytes.length };
  }

  async sweepTemps(olderThanMs: number): Promise<number> {
    let removed = 0;
    const now = Date.now();
    for (const [name, temp] of [...this.store.temps]) {
      if (temp.instance === this.instance || now - temp.touchedAt < olderThanMs) continue;
      this.store.temps.delete(name);
      removed++;
    }
    return removed;
  }
}

/** Bytes [start, end] of a buffer as a BlobBody: every byte is ready, and those in range are written as they are. */
export function bufferBody(bytes: Buffer, start: number, end: number): BlobBody {
  const source: PumpSource = {
    ready: (position, last) => Math.max(0, last - position + 1),
    read: async (buffer, length, position) => bytes.copy(buffer, 0, Math.min(position, bytes.length), Math.min(bytes.length, position + length)),
    // Past the end, undefined: read then returns 0 and the pump reports a short blob, as for a file.
    peek: (position, max) => (position < bytes.length ? bytes.subarray(position, Math.min(bytes.length, position + max)) : undefined),
  };
  return sourceBody(
    source,
    start,
    end,
    () => new SourceReader(source, start, end),
    () => undefined,
  );
}

/** Appends into a buffer that doubles as it fills, so a large blob costs few copies. */
class MemoryBlobWriter implements BlobWriter {
  readonly #store: MemoryBlobStore;
  readonly #name: string;
  readonly #digest: Digest;
  #bytes = Buffer.alloc(0);
  #length = 0;
  #state: 'writing' | 'committed' | 'cancelled' | 'closed' = 'writing';

  constructor(store: MemoryBlobStore, name: string, digest: Digest) {
    this.#store = store;
    this.#name = name;
    this.#digest = digest;
  }

  async write(chunks: readonly Buffer[]): Promise<void> {
    if (this.#state !== 'writing') throw new Error(`write after ${this.#state}`);
    const length = this.#length + chunks.reduce((n, c) => n + c.length, 0);
    if (length > this.#bytes.length) {
      const grown = Buffer.alloc(Math.max(length, this.#bytes.length * 2));
      this.#bytes.copy(grown, 0, 0, this.#length);
      this.#bytes = grown;
    }
    // Copied: the caller may reuse its buffers once the write resolved.
    for (const chunk of chunks) this.#length += chunk.copy(this.#bytes, this.#length);
    const temp = this.#store.temps.get(this.#name);
    if (temp) temp.touchedAt = Date.now();
  }

  async read(buffer: Buffer, length: number, position: number): Promise<number> {
    if (this.#state === 'closed') throw new Error('read after close');
    const wanted = Math.min(length, this.#length - position);
    if (wanted <= 0) return 0;
    return this.#bytes.copy(buffer, 0, position, position + wanted);
  }

  async commit(): Promise<void> {
    if (this.#state !== 'writing') throw new Error(`commit after ${this.#state}`);
    if (!this.#store.temps.delete(this.#name)) {
      throw new StorageError('commit blob', Object.assign(new Error(`temp object ${this.#name} was removed`), { code: 'ENOENT' }));
    }
    // A digest already stored keeps the stored bytes (they are the same bytes, verified by the caller).
    if (!this.#store.blobs.has(this.#digest.value)) this.#store.blobs.set(this.#digest.value, Buffer.from(this.#bytes.subarray(0, this.#length)));
    this.#state = 'committed';
  }

  async cancel(): Promise<void> {
    if (this.#state !== 'writing') return;
    this.#state = 'cancelled';
    this.#store.temps.delete(this.#name);
  }

  async close(): Promise<void> {
    if (this.#state === 'writing') await this.cancel();
    this.#state = 'closed';
    this.#bytes = Buffer.alloc(0); // nobody reads a closed writer: let the bytes go
    this.#length = 0;
  }
}
