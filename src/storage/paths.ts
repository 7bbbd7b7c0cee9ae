import { join, resolve } from 'node:path';
import type { Digest } from '../oci/digest.js';

/**
 * The on-disk layout, drawn once (after distribution's registry/storage/paths.go):
 *
 *   <data-dir>/
 *     cargohold.db                   SQLite metadata (plus -wal, -shm), when metadata is SQLite
 *     admin-<instance>.sock          the admin API of a process using the data dir (unix socket,
 *                                    mode 0600): the server's, or a command's working directly
 *     blobs/<alg>/<ab>/<hex>         verified blobs, one file per digest
 *     tmp/<instance>.<hex16>.<n>     fills in progress, named for the process instance that writes
 *                                    them; other instances' files untouched for a while are removed
 *
 * Every path is built here from a parsed Digest (validated hex) or our own instance id, so
 * no client input can name a path outside the data directory.
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

  blob(digest: Digest): string {
    return join(this.blobsDir, digest.algorithm, digest.hex.slice(0, 2), digest.hex);
  }

  blobDir(digest: Digest): string {
    return join(this.blobsDir, digest.algorithm, digest.hex.slice(0, 2));
  }

  temp(digest: Digest, instance: string, sequence: number): string {
    return join(this.tmpDir, `${instance}.${digest.hex.slice(0, 16)}.${sequence}`);
  }

  /** The instance that wrote a temp file, from its name; undefined for a name we did not make. */
  static tempInstance(fileName: string): string | undefined {
    return /^([a-z0-9]+)\.[a-f0-9]+\.\d+$/.exec(fileName)?.[1];
  }
}
