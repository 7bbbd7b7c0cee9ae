import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError, storageOp } from '../errors/storage-error.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import type { BlobBackend, BlobInfo, BlobWriter, StoredBlob } from '../ports/blob-backend.js';
import { fileBody } from './blob-body.js';
import { StoragePaths } from './paths.js';

/**
 * The blob port on a local filesystem: blobs/<alg>/<ab>/<hex>, written as a temp file
 * named for this process instance, fsynced and renamed into place (atomic: a killed
 * process leaves a temp file, never a partial blob).
 */
export class FsBlobBackend implements BlobBackend {
  readonly paths: StoragePaths;
  /** This process's id in temp file names (random per start: PIDs repeat across containers). */
  readonly instance: string;
  #sequence = 0;

  constructor(paths: StoragePaths, instance: string = randomBytes(6).toString('hex')) {
    this.paths = paths;
    this.instance = instance;
  }

  /** Creates the directories the layout needs. */
  async init(): Promise<void> {
    await storageOp(`creating ${this.paths.root}`, async () => {
      await mkdir(this.paths.blobsDir, { recursive: true });
      await mkdir(this.paths.tmpDir, { recursive: true });
    });
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    try {
      const info = await stat(this.paths.blob(digest));
      return info.isFile() ? { size: info.size } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError('stat blob', err);
    }
  }

  async open(digest: Digest): Promise<StoredBlob | undefined> {
    let fd: FileHandle;
    try {
      fd = await open(this.paths.blob(digest), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StorageError('open blob', err);
    }
    let size: number;
    try {
      size = (await fd.stat()).size;
    } catch (err) {
      await fd.close().catch(() => undefined);
      throw new StorageError('stat blob', err);
    }
    let taken = false;
    return {
      size,
      body: (start, end) => {
        taken = true;
        return fileBody(fd, start, end);
      },
      close: async () => {
        if (!taken) await fd.close();
      },
    };
  }

  async writer(digest: Digest): Promise<BlobWriter> {
    const temp = this.paths.temp(digest, this.instance, ++this.#sequence);
    const fd = await storageOp('create temp file', async () => {
      await mkdir(this.paths.tmpDir, { recursive: true });
      return open(temp, 'w+', 0o644);
    });
    return new FsBlobWriter(fd, temp, this.paths, digest);
  }

  async delete(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.paths.blob(digest));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new StorageError('delete blob', err);
    }
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const algorithm of await readdirOrEmpty(this.paths.blobsDir)) {
      for (const prefix of await readdirOrEmpty(join(this.paths.blobsDir, algorithm))) {
        for (const hex of await readdirOrEmpty(join(this.paths.blobsDir, algorithm, prefix))) {
          let digest: Digest;
          try {
            digest = parseDigest(`${algorithm}:${hex}`);
          } catch {
            continue; // not a file of ours
          }
          const info = await this.stat(digest);
          if (info) yield { digest: digest.value, size: info.size };
        }
      }
    }
  }

  async sweepTemps(olderThanMs: number): Promise<number> {
    return (await this.sweepTempNames(olderThanMs)).length;
  }

  /** sweepTemps, naming the temp files it removed (the S3 backend's spool files share their names with uploads). */
  async sweepTempNames(olderThanMs: number): Promise<string[]> {
    const removed: string[] = [];
    const now = Date.now();
    for (const name of await readdirOrEmpty(this.paths.tmpDir)) {
      if (StoragePaths.tempInstance(name) === this.instance) continue;
      const path = join(this.paths.tmpDir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info || now - info.mtimeMs < olderThanMs) continue;
      if (
        await unlink(path).then(
          () => true,
          () => false,
        )
      )
        removed.push(name);
    }
    return removed;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new StorageError(`list ${dir}`, err);
  }
}

/** One temp file: positional appends, reads back on the same descriptor (a rename never races them). */
class FsBlobWriter implements BlobWriter {
  readonly #fd: FileHandle;
  readonly #temp: string;
  readonly #paths: StoragePaths;
  readonly #digest: Digest;
  #offset = 0;
  #state: 'writing' | 'committed' | 'cancelled' | 'closed' = 'writing';

  constructor(fd: FileHandle, temp: string, paths: StoragePaths, digest: Digest) {
    this.#fd = fd;
    this.#temp = temp;
    this.#paths = paths;
    this.#digest = digest;
  }

  async write(chunks: readonly Buffer[]): Promise<void> {
    if (this.#state !== 'writing') throw new Error(`write after ${this.#state}`);
    const length = chunks.reduce((n, c) => n + c.length, 0);
    await storageOp('write temp file', () => writeAll(this.#fd, chunks, this.#offset));
    this.#offset += length;
  }

  async read(buffer: Buffer, length: number, position: number): Promise<number> {
    const wanted = Math.min(length, this.#offset - position);
    if (wanted <= 0) return 0;
    return storageOp('read temp file', async () => (await this.#fd.read(buffer, 0, wanted, position)).bytesRead);
  }

  async commit(): Promise<void> {
    if (this.#state !== 'writing') throw new Error(`commit after ${this.#state}`);
    await storageOp('commit blob', async () => {
      // The only fsync: the commit holds no client (the fill released the last byte once verified), so
      // background fdatasyncs that shortened it bought nothing, and slowed the writes that readers wait on.
      await this.#fd.sync();
      await mkdir(this.#paths.blobDir(this.#digest), { recursive: true });
      // rename replaces an existing blob of the same digest with identical bytes: idempotent.
      await rename(this.#temp, this.#paths.blob(this.#digest));
    });
    this.#state = 'committed';
  }

  async cancel(): Promise<void> {
    if (this.#state !== 'writing') return;
    this.#state = 'cancelled';
    await unlink(this.#temp).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#state === 'writing') await this.cancel();
    this.#state = 'closed';
    await this.#fd.close().catch(() => undefined);
  }
}

/** Writes every buffer at position, continuing after short writes (shared with the S3 backend's spool). */
export async function writeAll(fd: FileHandle, buffers: readonly Buffer[], position: number): Promise<void> {
  let pending = buffers;
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await fd.writev(pending as Buffer[], at);
    at += bytesWritten;
    // A short write: continue from where it stopped.
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const b of pending) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      rest.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    pending = rest;
  }
}
