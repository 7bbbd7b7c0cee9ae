import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import { z } from 'zod';
import { RegistryError } from '../errors/registry-error.js';
import type { LeaseHolder } from '../ports/metadata-repo.js';
import type { Services } from '../services.js';
import type { HolderRole } from './admin-client.js';
import { ImageRefError, parseImageRef } from '../warm/image-ref.js';
import { runWarmJob, type WarmJobEvent } from '../warm/warm-job.js';
import { collectStats } from '../maintenance/stats.js';
import { trafficSinceStart } from '../observability/traffic.js';
import { runGc } from '../maintenance/run-gc.js';
import { buildReport, parseReportBy } from '../report/report.js';
import type { VerifyEvent } from './admin-client.js';

const platform = z.object({ os: z.string().min(1), architecture: z.string().min(1), variant: z.string().min(1).optional() }).strict();
const warmBody = z
  .object({
    targets: z.array(z.object({ image: z.string().min(1), platforms: z.union([z.literal('all'), z.array(platform).min(1)]) }).strict()).min(1),
    concurrency: z.number().int().min(1).max(64),
    pin: z.boolean(),
    refresh: z.boolean().optional(),
  })
  .strict();
const pinBody = z.object({ image: z.string().min(1) }).strict();
const gcBody = z.object({ dryRun: z.boolean() }).strict();
const verifyBody = z.object({ repair: z.boolean() }).strict();

export interface AdminAppDeps {
  services: Services;
  holder: LeaseHolder;
  /** A command working directly answers only /v1/status (so others can tell it is alive). */
  role: HolderRole;
  logger: Logger;
}

/**
 * The admin API, served only on the unix socket in the data dir (mode 0600), never on the
 * pull port: the commands that change what is cached (`warm`, `pin`, `unpin`, `pins`) go
 * through the running server, so one process fills. Progress streams as NDJSON.
 */
export function createAdminApp(deps: AdminAppDeps): Hono {
  const { services, logger } = deps;
  const app = new Hono();

  app.get('/v1/status', (c) =>
    c.json({
      role: deps.role,
      instance: deps.holder.instance,
      description: deps.holder.description,
      dataDir: services.paths.root,
      fills: services.fills.size,
    }),
  );
  if (deps.role === 'serve') routeCommands(app, services, logger);
  app.notFound((c) => c.json({ error: 'unknown admin endpoint' }, 404));
  app.onError((err, c) => {
    if (err instanceof z.ZodError || err instanceof SyntaxError) return c.json({ error: `bad request: ${err.message}` }, 400);
    if (err instanceof ImageRefError || err instanceof RangeError) return c.json({ error: err.message }, 400);
    if (err instanceof RegistryError) return c.json({ error: err.message }, err.status as ContentfulStatusCode);
    logger.error({ err }, 'admin API error');
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}

function routeCommands(app: Hono, services: Services, logger: Logger): void {
  app.post('/v1/warm', async (c) => {
    const request = warmBody.parse(await c.req.json());
    logger.info({ images: request.targets.map((t) => t.image), pin: request.pin }, 'admin: warm');
    // A command that goes away (Ctrl-C) does not stop the job: the server finishes warming.
    return ndjson<WarmJobEvent>((emit) => runWarmJob(services, request, emit));
  });

  // An upstream's pull quota as last seen, and whether manifest GETs are held back; DELETE lifts a block at once.
  // Each upstream has its own (?upstream=ghcr.io; default docker.io).
  const quotaOf = (host: string | undefined) => {
    const client = services.upstreams.get(host ?? 'docker.io');
    if (!client) throw new RegistryError('NAME_UNKNOWN', `no upstream is configured for registry "${host}"`, { status: 404 });
    return client.rateLimit;
  };
  app.get('/v1/ratelimit', (c) => c.json(quotaOf(c.req.query('upstream')).snapshot()));
  app.delete('/v1/ratelimit', (c) => {
    const host = c.req.query('upstream') ?? 'docker.io';
    const quota = quotaOf(host);
    const cleared = quota.clear();
    logger.info({ cleared, registry: host }, 'admin: clear the upstream rate limit block');
    return c.json({ cleared, state: quota.snapshot() });
  });

  app.post('/v1/gc', async (c) => {
    const { dryRun } = gcBody.parse(await c.req.json());
    logger.info({ dryRun }, 'admin: gc');
    return c.json(await runGc(services, dryRun));
  });

  app.post('/v1/verify', async (c) => {
    const { repair } = verifyBody.parse(await c.req.json());
    logger.info({ repair }, 'admin: verify');
    return ndjson<VerifyEvent>(async (emit) => {
      const report = await services.maintenance.verify({ repair, onProgress: (p) => emit({ kind: 'progress', ...p }) });
      emit({ kind: 'report', report });
    });
  });

  app.get('/v1/stats', async (c) =>
    c.json({ ...(await collectStats(services.metadata)), traffic: await trafficSinceStart(services.metrics, services.startedAt) }),
  );
  app.get('/v1/report', async (c) => {
    const since = Number(c.req.query('since'));
    if (!Number.isFinite(since)) return c.json({ error: 'since: ms since the epoch' }, 400);
    return c.json(await buildReport(services.activity.traffic, { since, by: parseReportBy(c.req.query('by') ?? 'image'), now: Date.now() }));
  });
  app.get('/v1/images', async (c) => c.json(await services.metadata.listImages(c.req.query('repository'))));

  app.get('/v1/pins', async (c) => c.json(await services.metadata.listPins()));
  app.delete('/v1/pins', async (c) => {
    const ref = parseImageRef(pinBody.parse(await c.req.json()).image);
    return c.json({ image: ref.display, removed: await services.metadata.unpin(ref.repository, ref.referenceText) });
  });
}

/** A streamed NDJSON response; the work goes on if the client goes away. Progress is sent at most every 100 ms. */
function ndjson<E extends { kind: string }>(work: (emit: (event: E) => void) => Promise<void>): Response {
  const encoder = new TextEncoder();
  let open = true;
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      let lastProgress = 0;
      const emit = (event: E) => {
        if (!open) return;
        if (event.kind === 'progress') {
          const now = performance.now();
          if (now - lastProgress < 100) return;
          lastProgress = now;
        }
        controller.enqueue(encoder.encode(`${JSON.stringify(event)}\n`));
      };
      try {
        await work(emit);
      } catch (err) {
        emit({ kind: 'error', message: (err as Error).message } as unknown as E);
      }
      if (open) controller.close();
      open = false;
    },
    cancel() {
      open = false; // the command went away; the job finishes on its own
    },
  });
  return new Response(body, { headers: { 'content-type': 'application/x-ndjson' } });
}
