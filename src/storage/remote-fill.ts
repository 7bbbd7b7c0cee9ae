import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Digest } from '../oci/digest.js';
import { UpstreamError } from '../upstream/errors.js';
import { isAlive, type FillProgress } from './fill-lock.js';
import { GrowingBlob } from './growing-blob.js';
import type { StoragePaths } from './paths.js';

/** How often a followed fill is looked at (file size, commit, owner alive). */
const POLL_MS = 20;

/**
 * A fill another process on this data dir is doing (`warm` beside `serve`), followed
 * through its temp file: clients here get its bytes as they reach the disk instead of
 * waiting for the end. The last byte is held back until the owner has committed: the
 * blob's final path then names the very file we have open (same inode), which it only
 * does after the owner verified the digest and fsynced. The owner removing the temp
 * file (nlink 0) or dying means the fill failed.
 */
export class RemoteFill extends GrowingBlob {
  readonly remote = true;
  readonly settled: Promise<void>;
  readonly #ino: number;
  readonly #owner: number;
  readonly #paths: StoragePaths;
  readonly #logger: Logger;

  private constructor(digest: Digest, progress: FillProgress, fd: FileHandle, ino: number, paths: StoragePaths, logger: Logger) {
    super(digest, progress.size, fd);
    this.#owner = progress.pid;
    this.#ino = ino;
    this.#paths = paths;
    this.#logger = logger;
    this.settled = this.#watch();
  }

  /** Opens the owner's temp file; undefined if it is already gone (the owner is committing or giving up). */
  static async follow(digest: Digest, progress: FillProgress, paths: StoragePaths, logger: Logger): Promise<RemoteFill | undefined> {
    let fd: FileHandle;
    try {
      fd = await open(progress.temp, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const { ino } = await fd.stat();
    logger.debug({ digest: digest.value, owner: progress.pid }, 'following a fill of another process');
    return new RemoteFill(digest, progress, fd, ino, paths, logger);
  }

  /** All but the last byte seen in the owner's file: it is held back until the owner commits. */
  protected override readableWhileRunning(): number {
    return this.written - 1;
  }

  async #watch(): Promise<void> {
    try {
      for (;;) {
        const now = await this.fd.stat();
        const grew = now.size !== this.written;
        this.written = now.size;
        if (await this.#committed()) {
          this.written = (await this.fd.stat()).size;
          this.state = 'done';
          break;
        }
        if (now.nlink === 0) throw new Error('the other process removed its temp file');
        if (!isAlive(this.#owner)) throw new Error(`the filling process ${this.#owner} is gone`);
        if (grew) this.notify();
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    } catch (err) {
      this.state = 'failed';
      this.error = new UpstreamError('UNAVAILABLE', `blob transfer failed in another process: ${(err as Error).message}`, 'unreachable', { cause: err });
      this.#logger.warn({ digest: this.digest.value, owner: this.#owner, err: (err as Error).message }, 'followed fill failed');
    }
    this.settle();
  }

  /** The blob's final path names our file: the owner verified, fsynced and renamed it. */
  async #committed(): Promise<boolean> {
    const final = await stat(this.#paths.blob(this.digest)).catch(() => undefined);
    return final?.ino === this.#ino;
  }
}
