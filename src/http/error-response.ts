import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.js';

/** The OCI error body and status for any error; unknown errors become 500 UNKNOWN and are logged. */
export function errorResponse(err: unknown, logger: Logger, head: boolean): Response {
  const registryError = err instanceof RegistryError ? err : undefined;
  if (!registryError) logger.error({ err }, 'unexpected error');
  const error = registryError ?? new RegistryError('UNKNOWN', 'internal error');
  const body = JSON.stringify(error.toJSON());
  const headers = new Headers({ 'Content-Type': 'application/json; charset=utf-8', ...error.headers });
  headers.set('Content-Length', String(Buffer.byteLength(body)));
  return new Response(head ? null : body, { status: error.status, headers });
}
