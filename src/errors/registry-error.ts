import { ERROR_CODES, type ErrorCode } from './codes.js';

export interface RegistryErrorOptions {
  /** Overrides the table's status, e.g. 502 for an invalid upstream reply. */
  status?: number;
  detail?: unknown;
  /** Extra response headers, e.g. Retry-After on 429, Content-Range on 416. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** A domain error that maps one-to-one onto an OCI error body. */
export class RegistryError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message?: string, options: RegistryErrorOptions = {}) {
    super(message ?? ERROR_CODES[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistryError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  toJSON(): { errors: Array<{ code: string; message: string; detail: unknown }> } {
    return { errors: [{ code: this.code, message: this.message, detail: this.detail ?? null }] };
  }
}
