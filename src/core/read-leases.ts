import type { Digest } from '../oci/digest.js';
import type { BlobBackend, BlobInfo, BlobWriter, StoredBlob } from '../ports/blob-backend.js';
import type { BlobBody } from '../storage/blob-body.js';

/**
 * A BlobBackend that knows which blobs are being read: every opened blob holds a read
 * lease on its digest until its body is consumed or it is closed, so eviction and GC
 * never delete a blob under a reader (on a filesystem an open file would survive its
 * unlink; an object store gives no such grace). Everything else passes through.
 */
export class ReadLeases implements BlobBackend {
  readonly #inner: BlobBackend;
  readonly #readers = new Map<string, number>();
  readonly #shared: SharedReads | undefined;

  /** shared: where reads are published for the other replicas (their maintenance leader must see them). */
  constructor(inner: BlobBackend, shared?: SharedReads) {
    this.#inner = inner;
    this.#shared = shared;
  }

  /**
   * A read lease published to the other replicas too, taken before the blob's record is
   * looked up (so a replica removing the blob either sees this read or removed the record
   * first); the function releases it, once.
   */
  async holdShared(digest: string): Promise<() => void> {
    const local = this.hold(digest);
    if (!this.#shared) return local;
    let shared: () => void;
    try {
      shared = await this.#shared.holdRead(digest);
    } catch (err) {
      local();
      throw err;
    }
    return () => {
      local();
      shared();
    };
  }

  /** True while any response (or HEAD) holds this blob open. */
  inUse(digest: string): boolean {
    return this.#readers.has(digest);
  }

  /** Blobs open for reading right now. */
  get reading(): number {
    let n = 0;
    for (const count of this.#readers.values()) n += count;
    return n;
  }

  /** Takes a read lease on a digest (a reader of a fill in progress holds one too); the function releases it, once. */
  hold(digest: string): () => void {
    this.#readers.set(digest, (this.#readers.get(digest) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#readers.get(digest) ?? 1) - 1;
      if (left > 0) this.#readers.set(digest, left);
      else this.#readers.delete(digest);
    };
  }

  /** The body, holding a read lease on the digest until it is consumed or discarded. */
  leased(digest: string, body: BlobBody): BlobBody {
    return leasedBody(body, this.hold(digest));
  }

  async open(digest: Digest): Promise<StoredBlob | undefined> {
    // Alone, no round trip: the warm path pays nothing for replicas it does not have.
    const release = this.#shared ? await this.holdShared(digest.value) : this.hold(digest.value);
    let blob: StoredBlob | undefined;
    try {
      blob = await this.#inner.open(digest);
    } finally {
      if (!blob) release();
    }
    if (!blob) return undefined;
    const inner = blob;
    return {
      size: inner.size,
      body: (start, end) => leasedBody(inner.body(start, end), release),
      close: () => inner.close().finally(release),
      // The client fetches a redirected blob itself: the lease ends with the answer (close), not its download.
      ...(inner.redirect ? { redirect: () => inner.redirect!() } : {}),
    };
  }

  stat(digest: Digest): Promise<{ size: number } | undefined> {
    return this.#inner.stat(digest);
  }

  writer(digest: Digest): Promise<BlobWriter> {
    return this.#inner.writer(digest);
  }

  delete(digest: Digest): Promise<boolean> {
    return this.#inner.delete(digest);
  }

  list(): AsyncIterable<BlobInfo> {
    return this.#inner.list();
  }

  sweepTemps(olderThanMs: number): Promise<number> {
    return this.#inner.sweepTemps(olderThanMs);
  }
}

/** Reads published to other replicas (the Cluster port's holdRead). */
export interface SharedReads {
  holdRead(digest: string): Promise<() => void>;
}

/** The body, releasing the lease once it is written out, streamed to its end or discarded. */
function leasedBody(body: BlobBody, release: () => void): BlobBody {
  return {
    async writeTo(out, progress) {
      try {
        await body.writeTo(out, progress);
      } finally {
        release();
      }
    },
    stream() {
      const stream = body.stream();
      stream.once('end', release);
      stream.once('close', release);
      return stream;
    },
    discard() {
      body.discard();
      release();
    },
  };
}
