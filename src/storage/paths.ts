import { join, resolve } from 'node:path';
import type { Digest } from '../oci/digest.js';

/**
 * The on-disk layout, drawn once (after distribution's registry/storage/paths.go):
 *
 *   <data-dir>/
 *     cargohold.db            SQLite metadata (plus -wal, -shm)
 *     blobs/<alg>/<ab>/<hex>  verified blobs, one file per digest
 *     tmp/<hex>.<pid>.<n>     fills in progress; a dead pid's files are removed at start
 *     locks/<alg>-<hex>.lock  which process fills a digest (several processes may share a data dir)
 *     locks/<alg>-<hex>.fill  that fill's temp file and size, for other processes to follow
 *
 * Every path is built here from a parsed Digest (validated hex), so no client input
 * can name a path outside the data directory.
 */
export class StoragePaths {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = resolve(dataDir);
  }

  get database(): string {
    return join(this.root, 'cargohold.db');
  }

  get blobsDir(): string {
    return join(this.root, 'blobs');
  }

  get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  get locksDir(): string {
    return join(this.root, 'locks');
  }

  /** Held (O_EXCL, holding the owner's pid) by the one process filling this digest. */
  fillLock(digest: Digest): string {
    return join(this.locksDir, `${digest.algorithm}-${digest.hex}.lock`);
  }

  /** Written by the filling process once it has its temp file: where others follow the fill. */
  fillProgress(digest: Digest): string {
    return join(this.locksDir, `${digest.algorithm}-${digest.hex}.fill`);
  }

  blob(digest: Digest): string {
    return join(this.blobsDir, digest.algorithm, digest.hex.slice(0, 2), digest.hex);
  }

  blobDir(digest: Digest): string {
    return join(this.blobsDir, digest.algorithm, digest.hex.slice(0, 2));
  }

  temp(digest: Digest, pid: number, sequence: number): string {
    return join(this.tmpDir, `${digest.hex.slice(0, 16)}.${pid}.${sequence}`);
  }

  /** The pid that owns a temp file, from its name; undefined for a name we did not make. */
  static tempOwner(fileName: string): number | undefined {
    const match = /^[a-f0-9]+\.(\d+)\.\d+$/.exec(fileName);
    return match ? Number(match[1]) : undefined;
  }
}
