import type { Digest } from '../oci/digest.js';
import type { BlobBody } from './blob-body.js';

/** A fill as its readers see it: one this process runs (Fill) or one it follows (RemoteFill). */
export interface FillView {
  readonly digest: Digest;
  /** True when another process downloads the blob and this one follows its temp file. */
  readonly remote: boolean;
  readonly state: 'running' | 'done' | 'failed';
  readonly error: Error | undefined;
  /** Bytes on disk so far (the blob's size once done). */
  readonly written: number;
  /** Announced size, or the real one once done. */
  readonly size: number | undefined;
  /** Settles when the fill is committed or has failed (never rejects). */
  readonly settled: Promise<void>;
  /** Bytes [start, end] as they arrive; undefined if the fill is already closed (read it from disk). */
  body(start?: number, end?: number): BlobBody | undefined;
}
