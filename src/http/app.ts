import { Hono, type Context } from 'hono';
import { requestId } from 'hono/request-id';
import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.js';
import type { Registry } from '../core/types.js';
import { Namespaces } from '../core/namespace.js';
import type { ReadinessProbe } from '../observability/health.js';
import type { Metrics } from '../observability/metrics.js';
import type { Activity } from '../observability/activity.js';
import type { UiEnv } from '../ui/access.js';
import { authenticate, authorize, catalogFilter, type ClientAccess } from './authorize.js';
import { API_VERSION, type AppEnv } from './env.js';
import { errorResponse } from './error-response.js';
import { failureOf } from './failure.js';
import { accessLog } from './middleware/access-log.js';
import { requestMetrics } from './middleware/metrics.js';
import { blobsHandler } from './routes/blobs.js';
import { catalogHandler, tagsHandler } from './routes/lists.js';
import { manifestsHandler } from './routes/manifests.js';
import { referrersHandler } from './routes/referrers.js';
import { healthzHandler, metricsHandler, readyzHandler } from './routes/observability.js';
import { replicaFillHandler, type ReplicaBlobs } from './routes/replica.js';
import { PEER_FILL_PATH } from '../ports/cluster.js';
import { matchV2Path } from './v2-path.js';

export interface AppDeps {
  registry: Registry;
  logger: Logger;
  /** Serves /metrics and counts every request. */
  metrics?: Metrics;
  /** Which repository a request names; default: Docker Hub alone. */
  namespaces?: Namespaces;
  /** Serves /readyz. */
  readiness?: ReadinessProbe;
  /** Told of every manifest and blob response (traffic history, recent requests; needs metrics). */
  activity?: Activity;
  /** The dashboard (`/`, `/ui/...`), mounted before the registry routes. */
  dashboard?: Hono<UiEnv>;
  /** Client auth on every /v2/ route; without it every client reads everything. */
  access?: ClientAccess;
  /** The internal endpoint other replicas stream this one's fills from (only with the replicas' shared secret). */
  replicas?: { blobs: ReplicaBlobs; secret: string };
}

const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * The pull side of the OCI Distribution API. Paths are matched from the end (names
 * hold slashes); each API area has its own handler. The mirror is read-only: writes
 * answer 405 UNSUPPORTED.
 */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const { registry, logger } = deps;
  const app = new Hono<AppEnv>();
  const namespaces = deps.namespaces ?? Namespaces.dockerHubOnly();
  const manifests = manifestsHandler(registry.manifests, namespaces);
  const blobs = blobsHandler(registry.blobs, namespaces);
  const tags = tagsHandler(registry.tags, namespaces);
  const catalog = catalogHandler(registry.catalog);
  const referrers = referrersHandler(registry.referrers, namespaces);

  app.use(requestId());
  app.use(accessLog({ logger }));
  if (deps.metrics) app.use(requestMetrics(deps.metrics, deps.activity));
  app.use(async (c, next) => {
    await next();
    c.res.headers.set('Docker-Distribution-API-Version', API_VERSION);
    // On every response, errors included (requestId() sets it only on responses made through c).
    c.res.headers.set('X-Request-Id', c.get('requestId'));
    // The registry a containerd `?ns=` request was answered for (the distribution spec's OCI-Namespace).
    const ns = c.get('namespace');
    if (ns && c.req.query('ns') !== undefined) c.res.headers.set('OCI-Namespace', ns.host);
  });

  // Operations endpoints: local state only, never the upstream, and outside client auth (probes and scrapers have no login).
  if (deps.metrics) app.get('/metrics', metricsHandler(deps.metrics));
  app.get('/healthz', healthzHandler());
  if (deps.readiness) app.get('/readyz', readyzHandler(deps.readiness));

  // Between replicas: outside client auth, behind the replicas' shared secret.
  if (deps.replicas) app.get(`${PEER_FILL_PATH}:digest`, replicaFillHandler(deps.replicas.blobs, deps.replicas.secret));

  if (deps.dashboard) app.route('/', deps.dashboard as unknown as Hono<AppEnv>);

  app.all('*', async (c) => {
    const path = rawPath(c);
    const route = matchV2Path(path);
    if (!route) throw new RegistryError('UNSUPPORTED', 'unknown API endpoint', { status: 404, detail: { path } });
    if (route.area === 'uploads' || !READ_METHODS.has(c.req.method)) throw readOnly(c);
    const principal = await authenticate(c, deps.access);
    authorize(c, deps.access, route, principal);
    switch (route.area) {
      case 'base':
        return c.json({});
      case 'catalog':
        return catalog(c, catalogFilter(deps.access, principal));
      case 'manifests':
        return manifests(c, route.name, route.reference);
      case 'blobs':
        return blobs(c, route.name, route.digest);
      case 'tags':
        return tags(c, route.name);
      case 'referrers':
        return referrers(c, route.name, route.digest);
    }
  });

  app.onError((err, c) => {
    c.set('failure', failureOf(err));
    return errorResponse(err, logger, c.req.method === 'HEAD');
  });
  return app;
}

/**
 * The path exactly as the client sent it. The URL parser behind c.req.path resolves
 * `..` segments; we want to see them, to refuse them as invalid names.
 */
function rawPath(c: Context<AppEnv>): string {
  const raw = c.env?.incoming?.url;
  return raw === undefined ? c.req.path : (raw.split('?')[0] as string);
}

function readOnly(c: Context<AppEnv>): RegistryError {
  return new RegistryError('UNSUPPORTED', 'this mirror is read-only: push, delete and uploads are not supported', {
    detail: { method: c.req.method, path: c.req.path },
  });
}
