import type { Context } from 'hono';
import type { Metrics } from '../../observability/metrics.js';
import type { ReadinessProbe } from '../../observability/health.js';
import type { AppEnv } from '../env.js';

/** Probes and scrapes must never be answered from a cache. */
const NO_STORE = { 'Cache-Control': 'no-store' };

/** GET /metrics: the Prometheus text exposition. Local state only: never the upstream. */
export function metricsHandler(metrics: Metrics) {
  return async (c: Context<AppEnv>): Promise<Response> =>
    c.body(await metrics.exposition(), 200, { ...NO_STORE, 'Content-Type': metrics.contentType });
}

/** GET /healthz: the process is alive and answering. */
export function healthzHandler() {
  return (c: Context<AppEnv>): Response => c.json({ status: 'ok' }, 200, NO_STORE);
}

/** GET /readyz: 200 when the store answers, the data dir takes a write and has room; else 503 naming each failed check and why. */
export function readyzHandler(readiness: ReadinessProbe) {
  return async (c: Context<AppEnv>): Promise<Response> => {
    const { ready, checks } = await readiness.check();
    const failed = Object.entries(checks)
      .filter(([, check]) => !check.ok)
      .map(([name]) => name);
    return c.json({ status: ready ? 'ready' : 'unready', ...(failed.length > 0 ? { failed } : {}), checks }, ready ? 200 : 503, NO_STORE);
  };
}
