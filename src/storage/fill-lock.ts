import { open, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import type { StoragePaths } from './paths.js';

/** Another process filled the digest while we waited: read it from disk. */
export class FilledElsewhere extends Error {
  override name = 'FilledElsewhere';
}

/** What the filling process tells others: where its temp file is, and the announced size. */
export interface FillProgress {
  pid: number;
  temp: string;
  size: number | undefined;
}

export type FillClaim<F> =
  | {
      kind: 'owner';
      /** Tells other processes where to follow the fill (best effort). */
      announce: (progress: Omit<FillProgress, 'pid'>) => Promise<void>;
      release: () => Promise<void>;
    }
  | { kind: 'follow'; fill: F };

const POLL_MS = 100;

/**
 * One filler per digest across processes sharing a data dir (`serve` and `warm`): an
 * O_EXCL lock file holding the owner's pid. Once the owner has its temp file it
 * announces it (a progress file, written whole by rename), and other processes follow
 * that file as it grows instead of waiting for the end (`follow` opens it; undefined when
 * the file is already gone because the owner is committing or giving up). An owner that
 * has not announced yet, or whose file cannot be followed, is waited for until it lets go;
 * a dead owner's lock is taken over.
 */
export async function claimFill<F>(
  paths: StoragePaths,
  digest: Digest,
  maxWaitMs: number,
  follow: (progress: FillProgress) => Promise<F | undefined>,
): Promise<FillClaim<F>> {
  const lock = paths.fillLock(digest);
  const progressFile = paths.fillProgress(digest);
  const deadline = Date.now() + maxWaitMs;
  let waited = false;
  for (;;) {
    try {
      const fd = await open(lock, 'wx');
      await fd.writeFile(String(process.pid));
      await fd.close();
      const release = async () => {
        await unlink(progressFile).catch(() => undefined);
        await unlink(lock).catch(() => undefined);
      };
      if (waited) {
        await release();
        throw new FilledElsewhere(); // the other process finished: its blob is on disk
      }
      const announce = async (progress: Omit<FillProgress, 'pid'>) => {
        const staging = `${progressFile}.${process.pid}.tmp`;
        await writeFile(staging, JSON.stringify({ pid: process.pid, ...progress }));
        await rename(staging, progressFile);
      };
      return { kind: 'owner', announce, release };
    } catch (err) {
      if (err instanceof FilledElsewhere) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(await readFile(lock, 'utf8').catch(() => ''));
    const unreadable = !Number.isInteger(owner) || owner <= 0;
    if (unreadable && (await isFresh(lock))) {
      // Just created: its owner is writing its pid right now.
      await new Promise((resolve) => setTimeout(resolve, 10));
      continue;
    }
    if (unreadable || !isAlive(owner) || owner === process.pid || Date.now() > deadline) {
      await unlink(lock).catch(() => undefined); // stale: its owner is gone (or hung)
      continue;
    }
    const progress = await readProgress(progressFile);
    const fill = progress?.pid === owner ? await follow(progress) : undefined;
    if (fill !== undefined) return { kind: 'follow', fill };
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** Younger than a second: a lock whose owner may still be writing its pid. */
async function isFresh(file: string): Promise<boolean> {
  const info = await stat(file).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs < 1000;
}

async function readProgress(file: string): Promise<FillProgress | undefined> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as Partial<FillProgress>;
    if (!Number.isInteger(value.pid) || typeof value.temp !== 'string') return undefined;
    return { pid: value.pid as number, temp: value.temp, size: typeof value.size === 'number' ? value.size : undefined };
  } catch {
    return undefined;
  }
}

/** Removes locks and progress files whose owner is no longer alive (a kill -9 mid-fill). */
export async function removeStaleLocks(paths: StoragePaths): Promise<void> {
  const names = await readdir(paths.locksDir).catch(() => [] as string[]);
  for (const name of names) {
    const path = join(paths.locksDir, name);
    const text = await readFile(path, 'utf8').catch(() => '');
    const owner = name.endsWith('.lock') ? Number(text) : ((await readProgress(path))?.pid ?? Number(/\.(\d+)\.tmp$/.exec(name)?.[1]));
    const unreadable = !Number.isInteger(owner) || owner <= 0;
    if (unreadable && (await isFresh(path))) continue; // being written by its owner right now
    if (unreadable || owner === process.pid || !isAlive(owner)) await unlink(path).catch(() => undefined);
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
