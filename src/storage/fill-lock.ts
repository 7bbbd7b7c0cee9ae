import { open, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import type { StoragePaths } from './paths.js';

/** Another process filled the digest while we waited: read it from disk. */
export class FilledElsewhere extends Error {
  override name = 'FilledElsewhere';
}

const POLL_MS = 100;

/**
 * One filler per digest across processes sharing a data dir (`serve` and `warm`): an
 * O_EXCL lock file holding the owner's pid. A live owner is waited for (then the blob
 * is read from disk); a dead owner's lock is taken over.
 */
export async function acquireFillLock(paths: StoragePaths, digest: Digest, maxWaitMs: number): Promise<() => Promise<void>> {
  const path = paths.fillLock(digest);
  const deadline = Date.now() + maxWaitMs;
  let waited = false;
  for (;;) {
    try {
      const fd = await open(path, 'wx');
      await fd.writeFile(String(process.pid));
      await fd.close();
      if (waited) throw new FilledElsewhere(); // the other process finished: its blob is on disk
      return () => unlink(path).catch(() => undefined);
    } catch (err) {
      if (err instanceof FilledElsewhere) {
        await unlink(path).catch(() => undefined);
        throw err;
      }
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(await readFile(path, 'utf8').catch(() => ''));
    if (!Number.isInteger(owner) || owner <= 0 || !isAlive(owner) || owner === process.pid || Date.now() > deadline) {
      await unlink(path).catch(() => undefined); // stale: its owner is gone (or hung)
      continue;
    }
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Removes locks whose owner is no longer alive (a kill -9 mid-fill). */
export async function removeStaleLocks(paths: StoragePaths): Promise<void> {
  const names = await readdir(paths.locksDir).catch(() => [] as string[]);
  for (const name of names) {
    const path = join(paths.locksDir, name);
    const owner = Number(await readFile(path, 'utf8').catch(() => ''));
    if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || !isAlive(owner)) await unlink(path).catch(() => undefined);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
