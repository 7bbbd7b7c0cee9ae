import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StorageError } from '../errors/storage-error.js';
import { POSTGRES_OPEN } from '../metadata/postgres-repo.js';
import { StoragePaths } from '../storage/paths.js';
import { EnvironmentError } from './common.js';

/**
 * Checks a data dir before anything opens it, so what is wrong with it is said in one line
 * naming it (rather than as whatever mkdir or SQLite throws first). Every command needs to
 * write it (the database runs in WAL mode, commands take its lease). A missing one is created
 * by `serve` only (unless `--no-create`): any other command on a mistyped path would leave a
 * new empty data dir behind and report an empty cache.
 */
export async function checkDataDir(dataDir: string, options: { create: boolean; missing: string }): Promise<void> {
  const paths = new StoragePaths(dataDir);
  let info;
  try {
    info = await stat(paths.root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.create) return creatable(paths.root, dataDir);
    if (code === 'ENOENT') throw new EnvironmentError(options.missing);
    if (code === 'ENOTDIR') throw new EnvironmentError(`cannot use the data dir ${dataDir}: a part of its path is a file, not a directory`);
    throw new EnvironmentError(`cannot use the data dir ${dataDir}: ${describeCode(code, err)}`);
  }
  if (!info.isDirectory()) throw new EnvironmentError(`the data dir ${dataDir} is ${info.isFile() ? 'a file' : 'not a directory'}`);
  await writable(paths.root, `the data dir ${dataDir}`);
  // A database the filesystem will not let us write (a read-only bind mount, chmod for a non-root user).
  await writable(paths.database, `the metadata database ${databaseOf(dataDir)}`, true);
}

/** The nearest existing parent of a data dir to create must be writable (mkdir -p on a read-only filesystem says ENOENT). */
async function creatable(root: string, dataDir: string): Promise<void> {
  let parent = dirname(root);
  while (parent !== dirname(parent)) {
    try {
      if ((await stat(parent)).isDirectory()) break;
      throw new EnvironmentError(`cannot create the data dir ${dataDir}: ${parent} is a file, not a directory`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      parent = dirname(parent);
    }
  }
  try {
    await writable(parent, parent);
  } catch (err) {
    throw err instanceof EnvironmentError ? new EnvironmentError(`cannot create the data dir ${dataDir}: ${err.message}`) : err;
  }
}

async function writable(path: string, what: string, mayBeMissing = false): Promise<void> {
  try {
    await access(path, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && mayBeMissing) return;
    if (code === 'EROFS') throw new EnvironmentError(`${what} is on a read-only filesystem; cargohold needs to write to it`);
    if (code === 'EACCES' || code === 'EPERM') throw new EnvironmentError(`${what} is not writable by this user; cargohold needs to write to it`);
    throw new EnvironmentError(`cannot use ${what}: ${describeCode(code, err)}`);
  }
}

/** A StorageError from opening the data dir or its database, said as what is wrong with which file. */
export function explainOpenFailure(err: StorageError, dataDir: string): string {
  const database = databaseOf(dataDir);
  const code = err.systemCode ?? 'unknown error';
  // Its operation names the server (without the password); pg's message says what went wrong there.
  if (err.operation.startsWith(POSTGRES_OPEN)) return `cannot ${err.operation} (${(err.cause instanceof Error && err.cause.message) || code})`;
  if (code.startsWith('SQLITE_')) {
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'))
      return `the metadata database ${database} is corrupt or not a SQLite database (${code}); move it aside and cargohold starts a new one`;
    if (err.reason === 'read-only') return `the metadata database ${database} is read-only (${code}); cargohold needs to write to it`;
    if (err.reason === 'no-space') return `the data dir ${dataDir} is full (${code})`;
    return `cannot open the metadata database ${database} (${code})`;
  }
  if (err.reason === 'no-space') return `the data dir ${dataDir} is full (${code})`;
  if (err.reason === 'read-only') return `the data dir ${dataDir} is on a read-only filesystem (${code}); cargohold needs to write to it`;
  if (err.reason === 'permission') return `the data dir ${dataDir} is not writable by this user (${code}); cargohold needs to write to it`;
  return `cannot use the data dir ${dataDir}: ${err.operation}: ${code}`;
}

/** The database's path as the user named the data dir (StoragePaths has it resolved). */
function databaseOf(dataDir: string): string {
  return join(dataDir, basename(new StoragePaths(dataDir).database));
}

function describeCode(code: string | undefined, err: unknown): string {
  if (code === 'EACCES' || code === 'EPERM') return `permission denied (${code})`;
  return code ?? (err as Error).message;
}
