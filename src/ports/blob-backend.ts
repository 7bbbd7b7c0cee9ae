import type { Digest } from '../oci/digest.js';
import type { BlobBody } from '../storage/blob-body.js';

/** A stored blob, opened: its size, and its bytes by range. */
export interface StoredBlob {
  readonly size: number;
  /** Bytes [start, end] (inclusive) as a response body; the blob is released once they are consumed. */
  body(start: number, end: number): BlobBody;
  /** Releases the blob unread (HEAD, or an error before the body was taken). */
  close(): Promise<void>;
  /** A URL the client may fetch the blob from itself (a presigned object store URL); absent when only the body serves it. */
  redirect?(): Promise<string>;
}

/**
 * Where one blob is written while it is being fetched. Bytes are appended in order and
 * can be read back while more arrive (readers behind the live tail of a fill). Nothing is
 * visible under the digest until commit, which is idempotent: committing a digest that is
 * already stored keeps the stored one. The caller verifies the digest before committing.
 */
export interface BlobWriter {
  /** Appends these bytes after those already written; one call at a time. */
  write(chunks: readonly Buffer[]): Promise<void>;
  /** Reads bytes already written at position (at most length); how many were read. Still works after a failed write (a fill goes on from what was written). */
  read(buffer: Buffer, length: number, position: number): Promise<number>;
  /** Makes the blob durable and visible under its digest. */
  commit(): Promise<void>;
  /** Discards what was written; nothing becomes visible. Safe after a failed write. */
  cancel(): Promise<void>;
  /** Releases the writer once nobody reads it any more (after commit or cancel). */
  close(): Promise<void>;
}

export interface BlobInfo {
  digest: string;
  size: number;
}

/**
 * The blob port: content-addressed bytes. Implementations: the filesystem
 * (src/storage/fs-backend.ts), an S3-compatible object store (src/storage/s3-backend.ts),
 * memory (src/storage/memory-backend.ts); all pass
 * test/contract/blob-backend.contract.ts. Local failures (no space, permissions, I/O)
 * are thrown as StorageError, never as anything that looks like an upstream failure.
 */
export interface BlobBackend {
  stat(digest: Digest): Promise<{ size: number } | undefined>;
  /** Opens a stored blob for reading; undefined if it is not stored. */
  open(digest: Digest): Promise<StoredBlob | undefined>;
  /** Starts writing a blob (a temp object named for this instance). */
  writer(digest: Digest): Promise<BlobWriter>;
  /** True when a blob was removed. */
  delete(digest: Digest): Promise<boolean>;
  /** Every stored blob. */
  list(): AsyncIterable<BlobInfo>;
  /**
   * Removes temp objects of interrupted fills: those of other instances not touched for
   * olderThanMs (a live writer keeps touching its own). How many were removed.
   */
  sweepTemps(olderThanMs: number): Promise<number>;
}
