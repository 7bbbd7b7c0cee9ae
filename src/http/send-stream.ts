import { pipeline } from 'node:stream';
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { API_VERSION, type AppEnv } from './env.js';

/**
 * Sends a node stream straight into the node response (no web-stream conversion on
 * the hot path). If the stream fails mid-way the socket is destroyed, so the client
 * sees a broken transfer rather than a short blob that looks whole.
 */
export function sendStream(c: Context<AppEnv>, status: number, headers: Record<string, string>, stream: Readable): Response {
  const outgoing = c.env?.outgoing;
  if (!outgoing) return new Response(Readable.toWeb(stream) as ReadableStream, { status, headers });
  // setHeader (not writeHead's object) so the access log can read Content-Length back.
  for (const [name, value] of Object.entries(headers)) outgoing.setHeader(name, value);
  outgoing.setHeader('Docker-Distribution-API-Version', API_VERSION);
  outgoing.writeHead(status);
  pipeline(stream, outgoing, (err) => {
    if (err && !outgoing.destroyed) outgoing.destroy(err);
  });
  return RESPONSE_ALREADY_SENT;
}
