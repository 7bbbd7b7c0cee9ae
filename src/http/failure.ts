import { RegistryError } from '../errors/registry-error.js';
import { StorageError } from '../errors/storage-error.js';
import { UpstreamError } from '../errors/upstream-error.js';

/** Why a request failed, as the access log records it. */
export interface Failure {
  /** The OCI error code the client got (UNKNOWN for an unexpected error). */
  code: string;
  message: string;
  /** An upstream failure: unreachable, timeout, status, auth, invalid, offline, rate-limited. */
  upstream?: string;
  /** The status the upstream answered with. */
  upstreamStatus?: number;
  /** The upstream host that failed to answer (a network failure). */
  upstreamHost?: string;
  /** A local storage failure: no-space, permission, read-only, io, missing, other. */
  storage?: string;
  /** The system or network error code underneath (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, ENOSPC...). */
  cause?: string;
}

export function failureOf(err: unknown): Failure {
  const cause = causeCode(err);
  const base: Failure = err instanceof RegistryError ? { code: err.code, message: err.message } : { code: 'UNKNOWN', message: messageOf(err) };
  if (err instanceof UpstreamError) {
    base.upstream = err.reason;
    if (err.upstreamStatus !== undefined) base.upstreamStatus = err.upstreamStatus;
    if (err.host !== undefined) base.upstreamHost = err.host;
  }
  if (err instanceof StorageError) base.storage = err.reason;
  if (cause !== undefined) base.cause = cause;
  return base;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The first error code down the cause chain. */
function causeCode(err: unknown): string | undefined {
  let current = (err as { cause?: unknown } | null)?.cause;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
