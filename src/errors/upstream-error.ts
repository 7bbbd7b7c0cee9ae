import { RegistryError } from './registry-error.js';
import type { ErrorCode } from './codes.js';

/**
 * Why an upstream call failed; the registry layer serves stale content on any of these.
 * 'refused': the upstream named an address or scheme cargohold will not contact.
 */
export type UpstreamFailureReason = 'unreachable' | 'timeout' | 'status' | 'auth' | 'invalid' | 'offline' | 'rate-limited' | 'refused';

/** An upstream failure, already mapped onto the OCI error the client should see. */
export class UpstreamError extends RegistryError {
  readonly reason: UpstreamFailureReason;
  readonly upstreamStatus: number | undefined;
  /** The host that failed to answer (the registry, its CDN or token realm), when known: for the log, never sent to clients. */
  readonly host: string | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    reason: UpstreamFailureReason,
    options: { status?: number; upstreamStatus?: number; headers?: Record<string, string>; cause?: unknown; host?: string } = {},
  ) {
    super(code, message, {
      ...(options.status !== undefined ? { status: options.status } : {}),
      ...(options.headers ? { headers: options.headers } : {}),
      cause: options.cause,
      detail: { upstream: reason, ...(options.upstreamStatus !== undefined ? { status: options.upstreamStatus } : {}) },
    });
    this.reason = reason;
    this.upstreamStatus = options.upstreamStatus;
    this.host = options.host;
  }

  /** True when the upstream said the thing does not exist: nothing stale should hide that. */
  get isNotFound(): boolean {
    return this.upstreamStatus === 404;
  }
}

export function isUpstreamError(err: unknown): err is UpstreamError {
  return err instanceof UpstreamError;
}
