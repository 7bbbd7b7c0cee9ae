import { Hono, type Context } from 'hono';
import type { Logger } from 'pino';
import { z } from 'zod';
import { RegistryError } from '../errors/registry-error.js';
import { UpstreamError } from '../errors/upstream-error.js';
import { buildReport, parseReportBy, parseSince, reportCsv } from '../report/report.js';
import { sameOriginJson, type UiEnv, type Viewer, type ViewerOf } from './access.js';
import { APP_JS, ICON_SVG, STYLE_CSS } from './assets.js';
import type { PageContext } from './layout.js';
import { ImagePage } from './pages/image.js';
import { filterAndSort, IMAGE_SORTS, ImagesPage, type ImageSort } from './pages/images.js';
import { NowFragment, NowPage } from './pages/now.js';
import { OverviewPage } from './pages/overview.js';
import { ReportPage } from './pages/report.js';
import type { DashboardSource } from './source.js';
import type { TrafficRecorder } from '../observability/traffic-recorder.js';

export interface DashboardDeps {
  source: DashboardSource;
  traffic: TrafficRecorder;
  viewerOf: ViewerOf;
  version: string;
  logger: Logger;
  now?: () => number;
}

// No inline script or style anywhere: the page works under this policy, and injected markup could not run.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

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

  app.use('*', async (c, next) => {
    await next();
    c.res.headers.set('Content-Security-Policy', CSP);
    c.res.headers.set('X-Content-Type-Options', 'nosniff');
    c.res.headers.set('X-Frame-Options', 'DENY');
    c.res.headers.set('Referrer-Policy', 'same-origin');
    if (!c.res.headers.has('Cache-Control')) c.res.headers.set('Cache-Control', 'no-store');
  });

  const asset = (body: string, type: string) => (c: Context<UiEnv>) =>
    c.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=300' });
  app.get('/ui/assets/app.js', asset(APP_JS, 'text/javascript; charset=utf-8'));
  app.get('/ui/assets/style.css', asset(STYLE_CSS, 'text/css; charset=utf-8'));
  app.get('/ui/assets/icon.svg', asset(ICON_SVG, 'image/svg+xml'));
  app.get('/favicon.ico', (c) => c.redirect('/ui/assets/icon.svg', 301));

  // Everything below needs a viewer.
  app.use('*', async (c: Context<UiEnv>, next) => {
    const viewer = deps.viewerOf(c);
    if (!viewer) {
      return c.text('the dashboard needs a principal with the view or admin role', 401, { 'WWW-Authenticate': 'Basic realm="cargohold"' });
    }
    c.set('viewer', viewer);
    return next();
  });
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
    const all = await deps.source.images();
    return c.html(<ImagesPage ctx={ctxOf(viewer(c))} rows={filterAndSort(all, query)} total={all.length} query={query} />);
  });

  app.get('/ui/image', async (c) => {
    const repository = c.req.query('repository') ?? '';
    const tag = c.req.query('tag') ?? '';
    const image = repository && tag ? await deps.source.image(repository, tag) : undefined;
    if (!image) return c.text(`no cached image ${repository}:${tag}`, 404);
    return c.html(<ImagePage ctx={ctxOf(viewer(c))} image={image} />);
  });

  app.get('/ui/now', (c) => c.html(<NowPage ctx={ctxOf(viewer(c))} state={deps.source.now()} />));
  app.get('/ui/fragments/now', (c) => c.html(<NowFragment ctx={ctxOf(viewer(c))} state={deps.source.now()} />));

  const report = async (c: Context<UiEnv>) => {
    const sinceText = c.req.query('since') ?? '30d';
    const at = now();
    return {
      sinceText,
      report: await buildReport(deps.traffic, { since: parseSince(sinceText, at), by: parseReportBy(c.req.query('by') ?? 'image'), now: at }),
    };
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
  app.get('/ui/api/now', (c) => c.json(deps.source.now()));
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
    const status = err instanceof RangeError || err instanceof RegistryError ? 400 : err instanceof UpstreamError ? 502 : 500;
    if (status === 500) deps.logger.error({ err }, 'dashboard error');
    const message = status === 500 ? 'internal error' : err.message;
    return c.req.path.startsWith('/ui/api/') ? c.json({ error: message }, status) : c.text(message, status);
  });
  return app;
}
