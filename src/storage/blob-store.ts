import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Digest } from '../oci/digest.js';
import { isAlive, removeStaleLocks } from './fill-lock.js';
import { StoragePaths } from './paths.js';

/** Read-stream buffer for warm blobs: big reads, few syscalls. */
const READ_BUFFER = 1024 * 1024;

export interface OpenBlob {
  size: number;
  /** Streams bytes [start, end] (inclusive); closes the file when done. */
  stream(start: number, end: number): Readable;
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
      stream: (start, end) => fd.createReadStream({ start, end, highWaterMark: READ_BUFFER, autoClose: true }),
      close: () => fd.close(),
    };
  }

  async exists(digest: Digest): Promise<boolean> {
    return stat(this.paths.blob(digest)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async remove(digest: Digest): Promise<void> {
    await unlink(this.paths.blob(digest)).catch(() => undefined);
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

