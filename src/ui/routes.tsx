import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import { z } from 'zod';
import { RegistryError } from '../errors/registry-error.js';
import { UpstreamError } from '../errors/upstream-error.js';
import { buildReport, parseReportBy, parseSince, reportCsv, type Report } from '../report/report.js';
import { sameOriginJson, type UiEnv, type Viewer, type ViewerOf } from './access.js';
import { APP_JS, ICON_SVG, STYLE_CSS } from './assets.js';
import type { PageContext } from './layout.js';
import { ImagePage } from './pages/image.js';
import { filterAndSort, IMAGE_SORTS, ImagesPage, type ImageSort } from './pages/images.js';
import { NowFragment, NowPage } from './pages/now.js';
import { OverviewPage } from './pages/overview.js';
import { ReportPage } from './pages/report.js';
import type { DashboardSource } from './source.js';
import type { TrafficSource } from '../report/report.js';

class ForbiddenError extends Error {}

/** The report by image with only the repositories this viewer may read, and their total. */
function visibleReport(report: Report, who: Viewer): Report {
  const rows = report.rows.filter((r) => who.canRead(r.key));
  const total = { ...report.total, pulls: 0, pullsAvoided: 0, bytesServed: 0, bytesFetched: 0, bytesSaved: 0 };
  for (const r of rows) {
    total.pulls += r.pulls;
    total.pullsAvoided += r.pullsAvoided;
    total.bytesServed += r.bytesServed;
    total.bytesFetched += r.bytesFetched;
    total.bytesSaved += r.bytesSaved;
  }
  return { ...report, rows, total };
}

export interface DashboardDeps {
  source: DashboardSource;
  traffic: TrafficSource;
  viewerOf: ViewerOf;
  version: string;
  logger: Logger;
  now?: () => number;
}

// No inline script or style anywhere: the page works under this policy, and injected markup could not run.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** The dashboard's paths (the registry owns /v2/ and the operations endpoints theirs). */
const PATHS = ['/', '/ui', '/ui/*', '/favicon.ico'];

const imageTarget = z.object({ repository: z.string().min(1).max(512), reference: z.string().min(1).max(256) }).strict();

/**
 * The dashboard on the mirror's port: `/` and `/ui/...`, server-rendered with hono's JSX,
 * every asset served from here. Pages need a viewer (with client auth on, a principal with
 * the view or admin role); the buttons that change state need admin and a same-origin JSON POST.
 */
export function createDashboard(deps: DashboardDeps): Hono<UiEnv> {
  const app = new Hono<UiEnv>();
  const now = deps.now ?? Date.now;
  const ctxOf = (viewer: Viewer): PageContext => ({ role: viewer.role, principal: viewer.principal, now: now(), version: deps.version });

  // Mounted at the root beside the registry: only the dashboard's own paths go through these.
  const headers: MiddlewareHandler<UiEnv> = async (c, next) => {
    await next();
    c.res.headers.set('Content-Security-Policy', CSP);
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    c.res.headers.set('X-Frame-Options', 'DENY');
    c.res.headers.set('Referrer-Policy', 'same-origin');
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  };
  for (const path of PATHS) app.use(path, headers);

  const asset = (body: string, type: string) => (c: Context<UiEnv>) =>
    c.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=300' });
  app.get('/ui/assets/app.js', asset(APP_JS, 'text/javascript; charset=utf-8'));
  app.get('/ui/assets/style.css', asset(STYLE_CSS, 'text/css; charset=utf-8'));
  app.get('/ui/assets/icon.svg', asset(ICON_SVG, 'image/svg+xml'));
  app.get('/favicon.ico', (c) => c.redirect('/ui/assets/icon.svg', 301));

  // Everything below needs a viewer.
  const signedIn: MiddlewareHandler<UiEnv> = async (c, next) => {
    const viewer = await deps.viewerOf(c);
    if ('status' in viewer) return c.text(viewer.message, viewer.status, viewer.headers);
    c.set('viewer', viewer);
    return next();
  };
  for (const path of PATHS) app.use(path, signedIn);
  const viewer = (c: Context<UiEnv>) => c.get('viewer');

  app.get('/', async (c) => {
    const range = c.req.query('range') === '30d' ? '30d' : '48h';
    const [overview, history] = await Promise.all([deps.source.overview(), deps.source.history(range === '48h' ? { hours: 48 } : { days: 30 })]);
    return c.html(<OverviewPage ctx={ctxOf(viewer(c))} overview={overview} history={history} range={range} />);
  });
  app.get('/ui', (c) => c.redirect('/', 302));
  app.get('/ui/', (c) => c.redirect('/', 302));

  app.get('/ui/images', async (c) => {
    const sort = (IMAGE_SORTS as readonly string[]).includes(c.req.query('sort') ?? '') ? (c.req.query('sort') as ImageSort) : 'repository';
    const query = { q: (c.req.query('q') ?? '').slice(0, 200), sort, desc: c.req.query('dir') === 'desc' };
    const all = (await deps.source.images()).filter((image) => viewer(c).canRead(image.repository));
    return c.html(<ImagesPage ctx={ctxOf(viewer(c))} rows={filterAndSort(all, query)} total={all.length} query={query} />);
  });

  app.get('/ui/image', async (c) => {
    const repository = c.req.query('repository') ?? '';
    const tag = c.req.query('tag') ?? '';
    const image = repository && tag && viewer(c).canRead(repository) ? await deps.source.image(repository, tag) : undefined;
    if (!image) return c.text(`no cached image ${repository}:${tag}`, 404);
    return c.html(<ImagePage ctx={ctxOf(viewer(c))} image={image} />);
  });

  app.get('/ui/now', (c) => c.html(<NowPage ctx={ctxOf(viewer(c))} state={visibleNow(viewer(c))} />));
  app.get('/ui/fragments/now', (c) => c.html(<NowFragment ctx={ctxOf(viewer(c))} state={visibleNow(viewer(c))} />));

  /** What a viewer may see of what is happening now: fills and requests of its repositories, no one else's name. */
  const visibleNow = (who: Viewer) => {
    const state = deps.source.now();
    if (who.role === 'admin') return state;
    return {
      ...state,
      fills: state.fills.filter((f) => who.canRead(f.repository)),
      requests: state.requests
        .filter((r) => r.repository !== undefined && who.canRead(r.repository))
        .map((r) => ({ ...r, principal: r.principal === who.principal ? r.principal : '' })),
    };
  };

  const report = async (c: Context<UiEnv>) => {
    const sinceText = c.req.query('since') ?? '30d';
    const by = parseReportBy(c.req.query('by') ?? 'image');
    const who = viewer(c);
    if (by === 'principal' && who.role !== 'admin') throw new ForbiddenError('the report by principal needs the admin role');
    const at = now();
    const full = await buildReport(deps.traffic, { since: parseSince(sinceText, at), by, now: at });
    return { sinceText, report: by === 'image' && who.role !== 'admin' ? visibleReport(full, who) : full };
  };
  app.get('/ui/report', async (c) => {
    const { sinceText, report: r } = await report(c);
    return c.html(<ReportPage ctx={ctxOf(viewer(c))} report={r} since={sinceText} />);
  });
  app.get('/ui/report.csv', async (c) => {
    const { report: r } = await report(c);
    return c.body(reportCsv(r), 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="cargohold-report-by-${r.by}.csv"`,
    });
  });

  // JSON for scripts and tests: the same data as the pages.
  app.get('/ui/api/overview', async (c) => c.json(await deps.source.overview()));
  app.get('/ui/api/now', (c) => c.json(visibleNow(viewer(c))));
  app.get('/ui/api/report', async (c) => c.json((await report(c)).report));

  const change = (name: string, act: (target: z.infer<typeof imageTarget>) => Promise<string>) =>
    app.post(`/ui/api/${name}`, async (c) => {
      const who = viewer(c);
      if (who.role !== 'admin') return c.json({ error: 'this needs the admin role' }, 403);
      if (!sameOriginJson(c)) return c.json({ error: 'a change must be a JSON POST from the dashboard itself' }, 403);
      const parsed = imageTarget.safeParse(await c.req.json().catch(() => undefined));
      if (!parsed.success) return c.json({ error: 'give {"repository": "...", "reference": "..."}' }, 400);
      const message = await act(parsed.data);
      deps.logger.info({ principal: who.principal || 'anonymous', action: name, ...parsed.data }, `dashboard: ${name}`);
      return c.json({ message });
    });
  change(
    'pin',
    async ({ repository, reference }) =>
      `${repository}:${reference} ${(await deps.source.pin(repository, reference, true)) ? 'pinned' : 'was pinned already'}`,
  );
  change(
    'unpin',
    async ({ repository, reference }) =>
      `${repository}:${reference} ${(await deps.source.pin(repository, reference, false)) ? 'unpinned' : 'was not pinned'}`,
  );
  change('refresh', async ({ repository, reference }) => `${repository}:${reference} is ${await deps.source.refresh(repository, reference)}`);

  app.onError((err, c) => {
    const status =
      err instanceof ForbiddenError
        ? 403
        : err instanceof RegistryError
          ? (err.status as 400 | 404 | 502)
          : err instanceof RangeError
            ? 400
            : err instanceof UpstreamError
              ? 502
              : 500;
    if (status === 500) deps.logger.error({ err }, 'dashboard error');
    const message = status === 500 ? 'internal error' : err.message;
    return c.req.path.startsWith('/ui/api/') ? c.json({ error: message }, status) : c.text(message, status);
  });
  return app;
}
