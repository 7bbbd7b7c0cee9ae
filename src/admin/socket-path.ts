import { createHash } from 'node:crypto';
import { readdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoragePaths } from '../storage/paths.js';
import { AdminClient } from './admin-client.js';

/** Unix socket paths longer than this do not fit in sockaddr_un (108 bytes on Linux, with margin). */
const MAX_SOCKET_PATH = 100;

/**
 * Where a process's admin socket is: `<data-dir>/admin-<instance>.sock`, or, for a data dir whose path is too long for a unix socket, a name in the temp
 * dir derived from the data dir. The lease records which, so nobody guesses.
 */
export function adminSocketPath(paths: StoragePaths, instance: string): string {
  const name = `admin-${instance}`;
  const inDataDir = join(paths.root, `${name}.sock`);
  if (inDataDir.length <= MAX_SOCKET_PATH) return inDataDir;
  return join(tmpdir(), `cargohold-${createHash('sha256').update(paths.root).digest('hex').slice(0, 16)}-${name}.sock`);
}

/** Removes the admin sockets in the data dir that nothing listens on any more (processes that died). */
export async function removeDeadSockets(paths: StoragePaths): Promise<void> {
  const names = await readdir(paths.root).catch(() => [] as string[]);
  for (const name of names.filter((n) => /^admin-[a-z0-9]+\.sock$/.test(n))) {
    const path = join(paths.root, name);
    if ((await new AdminClient(path).probe()).state === 'gone') await unlink(path).catch(() => undefined);
  }
}
