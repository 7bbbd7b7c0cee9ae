import type { MiddlewareHandler } from 'hono';
import type { Metrics } from '../../observability/metrics.js';
import { ANONYMOUS } from '../../auth/types.js';
import { DOCKER_HUB } from '../../core/namespace.js';
import type { Activity } from '../../observability/activity.js';
import type { AppEnv } from '../env.js';
import { methodLabel, routeLabel } from '../route-label.js';
import { countBodyBytes } from './body-bytes.js';

/**
 * Counts every request by route pattern, method and status, times it to the end of its
 * response, and counts manifest and blob responses by cache outcome and the body bytes
 * they sent. Recorded when the response has really ended, like the access log, so a
 * streamed blob counts the bytes it sent, and whatever the log level.
 */
export function requestMetrics(metrics: Metrics, activity?: Activity): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const outgoing = c.env?.outgoing;
    const sent = outgoing ? countBodyBytes(outgoing) : undefined;
    await next();
    const record = (status: number, bytes: number) => {
      const route = routeLabel(c.req.path);
      metrics.httpRequests.inc({ route: route.pattern, method: methodLabel(c.req.method), status: String(status) });
      const ms = performance.now() - started;
      metrics.httpRequestDuration.observe({ route: route.pattern }, ms / 1000);
      const cache = c.get('cache');
      // '' with client auth off or for anonymous clients: one key for 'nobody' in the traffic history.
      const named = c.get('principal');
      const principal = named === undefined || named === ANONYMOUS ? '' : named;
      if (route.kind && activity) {
        activity.requests.add({
          at: Date.now(),
          method: c.req.method,
          path: c.req.path,
          status,
          outcome: cache,
          bytes,
          ms: Math.round(ms),
          principal,
          repository: c.get('repository'),
        });
      }
      if (!route.kind || !cache) return;
      const coalesced = c.get('coalesced') === true;
      metrics.cacheRequests.inc({ kind: route.kind, outcome: coalesced ? 'coalesced' : cache });
      // A miss (coalesced too) streams what the upstream sends as it arrives; hit and stale come from the store.
      if (bytes > 0) metrics.servedBytes.inc({ source: cache === 'miss' ? 'upstream' : 'cache' }, bytes);
      const repository = c.get('repository');
      if (activity && repository !== undefined) {
        const upstream = c.get('namespace')?.host ?? DOCKER_HUB;
        activity.traffic.record({ kind: route.kind, method: c.req.method, outcome: cache, coalesced, bytes, upstream, repository, principal });
      }
    };
    if (!outgoing || !sent) {
      record(c.res.status, c.req.method === 'HEAD' ? 0 : Number(c.res.headers.get('content-length') ?? 0));
      return;
    }
    let recorded = false;
    const once = () => {
      if (recorded) return;
      recorded = true;
      record(outgoing.statusCode, c.req.method === 'HEAD' ? 0 : sent());
    };
    if (outgoing.writableFinished || outgoing.destroyed) return once();
    outgoing.once('finish', once);
    outgoing.once('close', once);
  };
}
