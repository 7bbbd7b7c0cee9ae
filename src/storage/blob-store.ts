import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Digest } from '../oci/digest.js';
import { fileBody, type BlobBody } from './blob-body.js';
import { isAlive, removeStaleLocks } from './fill-lock.js';
import { StoragePaths } from './paths.js';

export interface OpenBlob {
  size: number;
  /** Bytes [start, end] (inclusive); the file is closed once they are sent. */
  body(start: number, end: number): BlobBody;
  close(): Promise<void>;
}

/** Verified blobs on disk, by digest. Writing happens only through a Fill. */
export class BlobStore {
  readonly paths: StoragePaths;
  readonly #logger: Logger;

  constructor(paths: StoragePaths, logger: Logger) {
    this.paths = paths;
    this.#logger = logger;
  }

  /** Opens a stored blob, or undefined if its file is gone (treated as a miss). */
  async open(digest: Digest): Promise<OpenBlob | undefined> {
    let fd;
    try {
      fd = await open(this.paths.blob(digest), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const { size } = await fd.stat();
    return {
      size,
      body: (start, end) => fileBody(fd, start, end),
      close: () => fd.close(),
    };
  }

  async exists(digest: Digest): Promise<boolean> {
    return stat(this.paths.blob(digest)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /** Removes temp files and fill locks left by processes that are no longer alive (a kill -9 mid-fill). */
  async removeOrphanTemps(): Promise<number> {
    await removeStaleLocks(this.paths);
    let names: string[];
    try {
      names = await readdir(this.paths.tmpDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const owner = StoragePaths.tempOwner(name);
      // Another live process (a `warm` beside `serve`) owns it: leave it.
      if (owner !== undefined && owner !== process.pid && isAlive(owner)) continue;
      await unlink(join(this.paths.tmpDir, name)).catch(() => undefined);
      removed++;
    }
    if (removed > 0) this.#logger.info({ removed }, 'removed temp files of interrupted fills');
    return removed;
  }
}

