import { RegistryError } from './registry-error.js';

/** Why the storage (disk, database, bucket) failed, from the system error code. */
export type StorageFailureReason = 'no-space' | 'permission' | 'read-only' | 'io' | 'missing' | 'other';

const REASONS: Record<string, StorageFailureReason> = {
  ENOSPC: 'no-space',
  EDQUOT: 'no-space',
  SQLITE_FULL: 'no-space',
  EACCES: 'permission',
  EPERM: 'permission',
  EROFS: 'read-only',
  SQLITE_READONLY: 'read-only',
  EIO: 'io',
  SQLITE_IOERR: 'io',
  ENOENT: 'missing',
  // PostgreSQL's SQLSTATEs: disk_full, insufficient_privilege, read_only_sql_transaction (a standby).
  '53100': 'no-space',
  '42501': 'permission',
  '25006': 'read-only',
};

/**
 * A local failure (disk full, permissions, I/O) of the blob backend or the metadata store.
 * Never an UpstreamError: it is not counted as an upstream failure, never resumed upstream,
 * and never a reason to serve stale content. Failing to store what was fetched is not the
 * client's problem: it gets the verified bytes anyway (core/storage-health.ts logs the
 * cause once). Where nothing can be served without the store (reading it), the client
 * gets a 503 saying the mirror's storage failed; the log names the operation and error.
 */
export class StorageError extends RegistryError {
  readonly reason: StorageFailureReason;
  readonly operation: string;
  /** The system, SQLite or PostgreSQL error code (ENOSPC, SQLITE_FULL, 53100...), when the cause had one. */
  readonly systemCode: string | undefined;

  constructor(operation: string, cause: unknown) {
    const code = (cause as { code?: unknown } | null)?.code;
    const reason = (typeof code === 'string' && (REASONS[code] ?? REASONS[code.split('_').slice(0, 2).join('_')])) || 'other';
    super('UNAVAILABLE', `the mirror's storage failed (${operation}: ${typeof code === 'string' ? code : (cause as Error)?.message})`, {
      detail: { storage: reason },
      cause,
    });
    this.name = 'StorageError';
    this.reason = reason;
    this.operation = operation;
    this.systemCode = typeof code === 'string' ? code : undefined;
  }
}

/** Runs a storage operation, turning what it throws into a StorageError naming it. */
export async function storageOp<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw err instanceof StorageError ? err : new StorageError(operation, err);
  }
}
