import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { BlobBody } from '../storage/blob-body.js';
import type { PumpProgress } from '../storage/pump.js';
import { API_VERSION, type AppEnv } from './env.js';

export interface SendBodyOptions {
  /**
   * Send the status line and headers now rather than with the first byte: the body is
   * a fill's, whose first byte may wait on a slow upstream, and the client must not see
   * silence meanwhile. (A stored body's first byte is at hand: headers go out with it.)
   */
  flushHeaders?: boolean;
}

/**
 * Writes a blob body straight into the node response (no web-stream conversion on the
 * hot path). If the transfer fails mid-way the socket is destroyed, so the client sees
 * a broken transfer rather than a short blob that looks whole.
 */
export function sendBody(
  c: Context<AppEnv>,
  status: number,
  headers: Record<string, string>,
  body: BlobBody,
  options: SendBodyOptions = {},
): Response {
  const outgoing = c.env?.outgoing;
  if (!outgoing) return new Response(Readable.toWeb(body.stream()) as ReadableStream, { status, headers });
  // setHeader (not writeHead's object) so the access log can read Content-Length back.
  for (const [name, value] of Object.entries(headers)) outgoing.setHeader(name, value);
  outgoing.setHeader('Docker-Distribution-API-Version', API_VERSION);
  outgoing.setHeader('X-Request-Id', c.get('requestId'));
  // As app.ts sets it on every other response: the registry a `?ns=` request was answered for.
  const ns = c.get('namespace');
  if (ns && c.req.query('ns') !== undefined) outgoing.setHeader('OCI-Namespace', ns.host);
  outgoing.writeHead(status);
  if (options.flushHeaders) outgoing.flushHeaders();
  const sent: PumpProgress = { bytes: 0 };
  c.set('sent', sent);
  body.writeTo(outgoing, sent).then(
    () => outgoing.end(),
    (err: Error) => {
      if (!outgoing.destroyed) outgoing.destroy(err);
    },
  );
  return RESPONSE_ALREADY_SENT;
}
