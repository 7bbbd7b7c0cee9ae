import type { MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { AppEnv } from '../env.js';
import { failureOf } from '../failure.js';
import { countBodyBytes } from './body-bytes.js';

export interface AccessLogOptions {
  logger: Logger;
}

/**
 * One JSON line per request: method, path, status, bytes, duration and cache
 * (hit | miss | stale), the principal (client auth: who it was, `anonymous` without
 * credentials; absent when it failed to authenticate), the client's address and user agent, and for a failure its
 * reason (error). Written when the response has really ended, so streamed blobs log
 * their true outcome: a transfer that broke off has bytes null and says so (aborted,
 * the body bytes the socket took against those announced, and whether the client got a
 * status line at all), never a clean 200.
 */
export function accessLog(options: AccessLogOptions): MiddlewareHandler<AppEnv> {
  const { logger } = options;
  return async (c, next) => {
    // Below info (e.g. --log-level warn) the access log is off: no per-request work at all.
    if (!logger.isLevelEnabled('info')) return next();
    const started = performance.now();
    const query = c.req.url.split('?')[1];
    const outgoing = c.env?.outgoing;
    // The body bytes really sent: JSON bodies carry no Content-Length header we could read back.
    const sent = outgoing ? countBodyBytes(outgoing) : undefined;
    const remote = c.env?.incoming?.socket.remoteAddress;
    const ua = c.req.header('user-agent');
    await next();
    // The error the app answered with, or the one that broke a streamed body off.
    const errorField = (complete: boolean) => {
      const failure = c.get('failure') ?? (!complete && outgoing?.errored ? failureOf(outgoing.errored) : undefined);
      return failure ? { error: failure } : {};
    };
    const write = (status: number, length: string | number | undefined, complete: boolean, headersSent = true) => {
      logger.info(
        {
          reqId: c.get('requestId'),
          method: c.req.method,
          path: c.req.path,
          ...(query ? { query } : {}),
          status,
          bytes: complete ? (c.req.method === 'HEAD' ? 0 : (sent?.() ?? Number(length ?? 0))) : null,
          ...(complete
            ? {}
            : { aborted: true, sent: c.get('sent')?.bytes ?? null, expected: length === undefined ? null : Number(length), headersSent }),
          ms: Math.round((performance.now() - started) * 10) / 10,
          cache: c.get('cache'),
          ...(c.get('principal') !== undefined ? { principal: c.get('principal') } : {}),
          ...(remote ? { remote } : {}),
          ...(ua ? { ua } : {}),
          ...errorField(complete),
        },
        'request',
      );
    };
    if (outgoing) {
      // 'finish': the last byte went to the socket; 'close' without it: the transfer broke off.
      let logged = false;
      const once = () => {
        if (logged) return;
        logged = true;
        write(
          outgoing.statusCode,
          (outgoing.getHeader('content-length') as string | undefined) ?? c.res.headers.get('content-length') ?? undefined,
          outgoing.writableFinished,
          outgoing.headersSent,
        );
      };
      outgoing.once('finish', once);
      outgoing.once('close', once);
    } else {
      write(c.res.status, c.res.headers.get('content-length') ?? undefined, true);
    }
  };
}
