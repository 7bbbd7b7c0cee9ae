import type { ErrorCode } from '../errors/codes.js';
import { UpstreamError } from '../errors/upstream-error.js';

export type ResourceKind = 'manifest' | 'blob' | 'repository';

const NOT_FOUND_CODE: Record<ResourceKind, ErrorCode> = {
  manifest: 'MANIFEST_UNKNOWN',
  blob: 'BLOB_UNKNOWN',
  repository: 'NAME_UNKNOWN',
};

const PASSED_ON_CODES = new Set<string>(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN']);

/** Maps an upstream HTTP status onto the error our client sees (honestly: never a 500). */
export function errorForUpstreamStatus(
  status: number,
  kind: ResourceKind,
  headers: Record<string, string | string[] | undefined>,
  upstreamCode?: string,
): UpstreamError {
  if (status === 404) {
    const code = upstreamCode && PASSED_ON_CODES.has(upstreamCode) ? (upstreamCode as ErrorCode) : NOT_FOUND_CODE[kind];
    return new UpstreamError(code, `upstream: ${kind} not found`, 'status', { upstreamStatus: status });
  }
  if (status === 401)
    return new UpstreamError('UNAUTHORIZED', 'upstream refused the request: authentication required', 'auth', { upstreamStatus: status });
  if (status === 403) return new UpstreamError('DENIED', 'upstream denied access', 'auth', { upstreamStatus: status });
  if (status === 429) {
    const retryAfter = headerValue(headers['retry-after']);
    return new UpstreamError('TOOMANYREQUESTS', 'upstream rate limit reached', 'status', {
      upstreamStatus: status,
      ...(retryAfter ? { headers: { 'Retry-After': retryAfter } } : {}),
    });
  }
  if (status >= 500) return new UpstreamError('UNAVAILABLE', `upstream failed with status ${status}`, 'status', { upstreamStatus: status });
  return new UpstreamError('UNAVAILABLE', `upstream answered with unexpected status ${status}`, 'status', { status: 502, upstreamStatus: status });
}

/** Maps a network-level failure (undici error codes) onto 503 UNAVAILABLE; host: the one that failed, for the log. */
export function errorForNetworkFailure(err: unknown, what: string, host?: string): UpstreamError {
  const code = (err as { code?: string } | null)?.code ?? '';
  const timeout = /TIMEOUT/.test(code);
  const message = timeout ? `upstream timed out (${what})` : `upstream unreachable (${what}): ${code || (err as Error)?.message || 'error'}`;
  return new UpstreamError('UNAVAILABLE', message, timeout ? 'timeout' : 'unreachable', { cause: err, ...(host ? { host } : {}) });
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
