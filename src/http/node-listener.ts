import type { RequestListener } from 'node:http';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.js';
import { API_VERSION, type AppEnv } from './env.js';
import { errorResponse } from './error-response.js';

/**
 * Node's request listener for the app. Requests Node's parser accepts but that name no URL
 * (`GET *`, no Host, `Host: a b`, a backslash in the path) never reach the app; the
 * adapter's default answers them 400 with an empty body. Here they get the OCI error JSON
 * like every other error. (The server must be created with `requireHostHeader: false`, or
 * Node itself answers a missing Host with an empty 400 before any listener runs.)
 */
export function nodeListener(app: Hono<AppEnv>, logger: Logger): RequestListener {
  const listener = getRequestListener(app.fetch, {
    errorHandler: (err) => {
      let error = err;
      if (err instanceof RequestError) {
        logger.info({ status: 400, err: err.message }, 'malformed request');
        error = new RegistryError('UNSUPPORTED', `malformed request: ${err.message}`, { status: 400 });
      }
      // HEAD or not, node drops the body of a response to HEAD itself.
      const res = errorResponse(error, logger, false);
      res.headers.set('Docker-Distribution-API-Version', API_VERSION);
      return res;
    },
  });
  // The adapter handles its own failures; nothing is left for the caller to await.
  return (incoming, outgoing) => void listener(incoming, outgoing);
}
