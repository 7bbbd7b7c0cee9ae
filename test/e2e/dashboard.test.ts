import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import { formatBytes, formatRatio } from '../../src/ui/format.js';
import { image, randomLayer } from '../fixtures/images.js';
import { ARTIFACTS, CHROMIUM, launchChromium, watchedPage, withScreenshotOnFailure } from '../support/browser.js';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { scrape } from '../support/metrics.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { missingTools, run } from '../support/peers.js';
import { useE2E } from './setup.js';

const missing = missingTools('docker-registry', 'skopeo', CHROMIUM, 'htpasswd');

/** A page visit that must log no console error, failed request or uncaught exception. */
async function visit(
  browser: Browser,
  url: string,
  name: string,
  check: (page: Page) => Promise<void>,
  credentials?: { username: string; password: string },
) {
  const context = await browser.newContext(credentials ? { httpCredentials: credentials } : {});
  try {
    const { page, errors } = await watchedPage(context);
    await withScreenshotOnFailure(page, name, async () => {
      const response = await page.goto(url);
      expect(response?.status()).toBe(200);
      await check(page);
      expect(errors).toEqual([]);
    });
  } finally {
    await context.close();
  }
}

describe.skipIf(missing)('the dashboard in headless Chromium, after real pulls through skopeo', () => {
  const e2e = useE2E(
    'dashboard',
    async () => undefined,
    () => ({ ui: { anonymous: 'admin' } }),
  );
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
    const skopeo = (ref: string, dest: string) =>
      run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${e2e.mirrorHost}/${ref}`, `dir:${join(e2e.dir, dest)}`]);
    await skopeo('library/node:17-alpine', 'node17');
    await skopeo('myorg/app:1.0', 'app');
    await skopeo('library/node:17-alpine', 'node17-again'); // all from the cache this time
    await e2e.mirror.idle();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('the overview shows the bytes stored, the hit ratio and the pulls avoided that /metrics and the store count', async () => {
    const { mirror } = e2e;
    const overview = (await http(mirror.url, '/ui/api/overview')).json();
    const metrics = await scrape(mirror.url);
    const count = (outcome: string) =>
      metrics.count('cargohold_cache_requests_total', { kind: 'manifest', outcome }) +
      metrics.count('cargohold_cache_requests_total', { kind: 'blob', outcome });
    const ratio = (count('hit') + count('stale')) / (count('hit') + count('miss') + count('stale') + count('coalesced'));
    const stored = new Set([...e2e.images.node17.blobs, ...e2e.images.app.blobs].map((b) => `${b.digest} ${b.size}`));
    const storedBytes = [...stored].reduce((n, s) => n + Number(s.split(' ')[1]), 0);
    expect(overview.inventory.bytes).toBe(storedBytes);
    await visit(browser, `${mirror.url}/`, 'overview', async (page) => {
      expect(await page.getByTestId('store-bytes').textContent()).toContain(formatBytes(storedBytes));
      expect(await page.getByTestId('store-tags').textContent()).toBe('2');
      expect(await page.getByTestId('hit-ratio-today').textContent()).toBe(formatRatio(ratio));
      // Two skopeo copies of node:17-alpine: the second one's manifest GETs were all answered from the cache.
      expect(Number(await page.getByTestId('avoided-today').textContent())).toBeGreaterThanOrEqual(1);
      expect(await page.locator('#history svg rect').count()).toBeGreaterThan(0);
      await page.setViewportSize({ width: 1280, height: 900 });
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
      // `CARGOHOLD_DOCS_SCREENSHOT=1 npx vitest run test/e2e/dashboard.test.ts` refreshes the README's picture.
      if (process.env.CARGOHOLD_DOCS_SCREENSHOT === '1')
        copyFileSync(join(ARTIFACTS, 'dashboard.png'), join(import.meta.dirname, '..', '..', 'docs', 'dashboard.png'));
    });
  });

  it('the images page lists what was pulled with its size, searches, and pins from the page', async () => {
    const { mirror, images } = e2e;
    const sum = (blobs: Array<{ size: number }>) => blobs.reduce((n, b) => n + b.size, 0);
    await visit(browser, `${mirror.url}/ui/images`, 'images', async (page) => {
      const node = page.locator('tr[data-image="docker.io/library/node:17-alpine"]');
      const app = page.locator('tr[data-image="docker.io/myorg/app:1.0"]');
      expect(await node.locator('td[data-bytes]').getAttribute('data-bytes')).toBe(String(sum(images.node17.blobs)));
      expect(await app.locator('td[data-bytes]').getAttribute('data-bytes')).toBe(String(sum(images.app.blobs)));
      expect(await node.locator('td.platforms').textContent()).toBe('linux/amd64'); // from the stored config blob
      await page.getByLabel('search').fill('myorg');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.waitForURL(/q=myorg/);
      expect(await page.locator('tr[data-image]').count()).toBe(1);
      await page.goto(`${mirror.url}/ui/images`);
      await page.locator('tr[data-image="docker.io/library/node:17-alpine"] button', { hasText: 'Pin' }).click();
      await page.waitForSelector('tr[data-image="docker.io/library/node:17-alpine"] td.pinned:text("yes")');
      expect(await page.locator('#status').textContent()).toBe('docker.io/library/node:17-alpine pinned');
    });
    const pins = await new AdminClient(mirror.adminSocket).pins();
    expect(pins.map((p) => `${p.repository}:${p.reference}`)).toEqual(['docker.io/library/node:17-alpine']);
  });

  it('the report page and its CSV download carry the pulls per image', async () => {
    const { mirror } = e2e;
    await visit(browser, `${mirror.url}/ui/report?since=1d&by=image`, 'report', async (page) => {
      expect(await page.locator('tr[data-key="docker.io/library/node"] td').nth(1).textContent()).toBe('2');
      const download = page.waitForEvent('download');
      await page.getByText('Download CSV').click();
      const file = join(e2e.dir, 'report.csv');
      await (await download).saveAs(file);
      expect(execFileSync('head', ['-1', file]).toString()).toBe('image,pulls,pullsAvoided,bytesServed,bytesFetched,bytesSaved\r\n');
    });
  });
});

describe.skipIf(missing)('the dashboard in headless Chromium, against the counting fake hub', () => {
  let browser: Browser;
  let hub: FakeHub;
  let dir: string;
  const mirrors: Mirror[] = [];
  beforeAll(async () => {
    browser = await launchChromium();
    hub = await FakeHub.start();
    dir = mkdtempSync(join(tmpdir(), 'cargohold-dashboard-e2e-'));
  });
  afterAll(async () => {
    for (const m of mirrors) await m.destroy();
    await hub?.close();
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the Now view shows a fill in progress live, on a paused upstream, and drops it when it is stored', async () => {
    const mirror = await startMirror(hub.registryUrl, { upstream: hub.trusted });
    mirrors.push(mirror);
    const layer = randomLayer(3_000_000);
    hub.push('library/slow', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 1_000_000, release: new Promise<void>((r) => (release = r)) });
    const context = await browser.newContext();
    try {
      const { page, errors } = await watchedPage(context);
      await withScreenshotOnFailure(page, 'now', async () => {
        await page.goto(`${mirror.url}/ui/now`);
        expect(await page.locator('tr[data-fill]').count()).toBe(0);
        // The page is open before the pull starts: the row can only come from its live updates.
        const pulling = http(mirror.url, `/v2/library/slow/blobs/${layer.digest}`);
        const row = page.locator(`tr[data-fill="${layer.digest}"]`);
        await row.waitFor({ timeout: 10_000 });
        await page.waitForSelector(`tr[data-fill="${layer.digest}"] .received[data-received="1000000"]`, { timeout: 10_000 });
        expect(await row.locator('.readers').textContent()).toBe('1');
        release();
        expect((await pulling).sha256()).toBe(layer.digest);
        await row.waitFor({ state: 'detached', timeout: 10_000 });
        expect(errors).toEqual([]);
      });
    } finally {
      await context.close();
    }
  });

  it('a viewer without rights on a repository does not see it; an admin does', async () => {
    const htpasswd = join(dir, 'htpasswd');
    execFileSync('htpasswd', ['-B', '-b', '-c', htpasswd, 'alice', 'alice-pw']);
    execFileSync('htpasswd', ['-B', '-b', htpasswd, 'bob', 'bob-pw']);
    const mirror = await startMirror(hub.registryUrl, {
      upstream: hub.trusted,
      auth: {
        htpasswdFile: htpasswd,
        rules: [
          { principals: ['alice'], repositories: ['docker.io/**'] },
          { principals: ['bob'], repositories: ['docker.io/library/public'] },
        ],
      },
      ui: { admins: ['alice'], viewers: ['bob'] },
    });
    mirrors.push(mirror);
    hub.push('library/public', 'latest', image([randomLayer(5_000)]));
    hub.push('acme/private', 'latest', image([randomLayer(6_000)]));
    const alice = { authorization: `Basic ${Buffer.from('alice:alice-pw').toString('base64')}` };
    for (const repo of ['library/public', 'acme/private'])
      expect((await http(mirror.url, `/v2/${repo}/manifests/latest`, { headers: alice })).status).toBe(200);
    await visit(
      browser,
      `${mirror.url}/ui/images`,
      'viewer',
      async (page) => {
        expect(await page.locator('tr[data-image]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-image')))).toEqual([
          'docker.io/library/public:latest',
        ]);
        expect(await page.content()).not.toContain('acme/private');
        expect(await page.locator('button[data-post]').count()).toBe(0);
      },
      { username: 'bob', password: 'bob-pw' },
    );
    await visit(
      browser,
      `${mirror.url}/ui/images`,
      'admin',
      async (page) => {
        expect(await page.locator('tr[data-image]').count()).toBe(2);
      },
      { username: 'alice', password: 'alice-pw' },
    );
  });
});
