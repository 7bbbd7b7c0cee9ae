import { afterEach, describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { scrapeWhen } from '../support/metrics.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { waitFor } from '../support/wait.js';
import { startCli } from '../support/cli-process.js';

let hub: FakeHub | undefined;
let mirror: Mirror | undefined;

afterEach(async () => {
  await mirror?.destroy();
  await hub?.close();
  mirror = undefined;
  hub = undefined;
});

async function setUp(overrides: ConfigInput = {}) {
  hub = await FakeHub.start();
  mirror = await startMirror(hub.registryUrl, { ...overrides, upstream: { ...hub.trusted, tagTtlSeconds: 600 } });
  return { hub, mirror };
}

/** The pinned cell of an image's row on the Images page. */
async function pinnedOnPage(mirror: Mirror, image: string): Promise<string | undefined> {
  const html = (await http(mirror.url, '/ui/images')).body.toString();
  const row = html.split('<tr').find((r) => r.includes(`data-image="${image}"`));
  return row ? /<td class="pinned">(\w+)<\/td>/.exec(row)?.[1] : undefined;
}

/** Runs fn against another mirror on the same hub, destroyed after. */
async function withMirror<T>(overrides: ConfigInput, fn: (url: string) => Promise<T>): Promise<T> {
  const other = await startMirror((hub as FakeHub).registryUrl, { ...overrides, upstream: (hub as FakeHub).trusted });
  try {
    return await fn(other.url);
  } finally {
    await other.destroy();
  }
}

const json = (body: unknown) => ({ method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('dashboard', () => {
  it('shows what was pulled: store, hit ratio, bytes saved and pulls avoided agree with /metrics and the metadata store', async () => {
    const { hub, mirror } = await setUp();
    const layer = randomLayer(300_000);
    hub.push('library/node', '17-alpine', image([layer]));
    // One cold pull, then two warm ones of the manifest and one of the layer.
    expect((await http(mirror.url, '/v2/library/node/manifests/17-alpine')).status).toBe(200);
    const manifestGets = () => hub.count({ method: 'GET', path: '/v2/library/node/manifests/17-alpine' });
    const cold = manifestGets();
    for (let i = 0; i < 2; i++) expect((await http(mirror.url, '/v2/library/node/manifests/17-alpine')).status).toBe(200);
    await mirror.idle();
    for (let i = 0; i < 2; i++) expect((await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`)).sha256()).toBe(layer.digest);
    await mirror.idle();
    const metrics = await scrapeWhen(mirror.url, (s) => s.count('cargohold_cache_requests_total', { kind: 'blob', outcome: 'hit' }) === 1);
    const overview = (await http(mirror.url, '/ui/api/overview')).json();
    const month = overview.periods.find((p: { label: string }) => p.label === '30 days');
    const outcomes = (kind: string, outcome: string) => metrics.count('cargohold_cache_requests_total', { kind, outcome });
    expect(month.totals).toMatchObject({
      hits: outcomes('manifest', 'hit') + outcomes('blob', 'hit'),
      misses: outcomes('manifest', 'miss') + outcomes('blob', 'miss'),
      pullHits: 2,
      pullMisses: 1,
      bytesFromCache: metrics.count('cargohold_served_bytes_total', { source: 'cache' }),
      bytesFromUpstream: metrics.count('cargohold_served_bytes_total', { source: 'upstream' }),
    });
    expect(month.totals.hits).toBe(3);
    expect(month.totals.misses).toBe(2);
    expect(month.pullsAvoided).toBe(2);
    expect(month.hitRatio).toBe(3 / 5);
    expect(overview.inventory).toMatchObject({ tags: 1, blobs: 1, bytes: layer.size });
    expect(manifestGets()).toBe(cold); // the two avoided pulls really made no upstream GET

    const page = await http(mirror.url, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const html = page.body.toString();
    expect(html).toContain('<td>docker.io</td>');
    expect(html).toMatch(/data-testid="hit-ratio-30days">60\.0%</);
    expect(html).toMatch(/data-testid="avoided-30days">2</);
    expect(html).not.toMatch(/<script>|style="/); // nothing inline: the CSP would block it

    const images = (await http(mirror.url, '/ui/images?q=node')).body.toString();
    expect(images).toContain('data-image="docker.io/library/node:17-alpine"');
    const missing = (await http(mirror.url, '/ui/images?q=python')).body.toString();
    expect(missing).not.toContain('data-image=');
    const detail = await http(mirror.url, '/ui/image?repository=docker.io/library/node&tag=17-alpine');
    expect(detail.status).toBe(200);
    expect(detail.body.toString()).toContain(layer.digest);
    expect((await http(mirror.url, '/ui/image?repository=docker.io/library/node&tag=nope')).status).toBe(404);
    for (const asset of ['/ui/assets/app.js', '/ui/assets/style.css', '/ui/assets/icon.svg'])
      expect((await http(mirror.url, asset)).status).toBe(200);
  });

  it('the report sums what was pulled per image, and its CSV has the same rows', async () => {
    const { hub, mirror } = await setUp();
    const a = randomLayer(50_000);
    const b = randomLayer(70_000);
    hub.push('library/node', 'latest', image([a]));
    const redis = image([b]);
    hub.push('library/redis', 'latest', redis);
    for (const [repo, layer] of [
      ['library/node', a],
      ['library/redis', b],
      ['library/redis', b],
    ] as const) {
      await http(mirror.url, `/v2/${repo}/manifests/latest`);
      await mirror.idle();
      await http(mirror.url, `/v2/${repo}/blobs/${layer.digest}`);
      await mirror.idle();
    }
    const report = (await http(mirror.url, '/ui/api/report?since=1d&by=image')).json();
    const redisManifest = redis.manifest.size;
    expect(report.rows.map((r: { key: string }) => r.key)).toEqual(['docker.io/library/redis', 'docker.io/library/node']);
    expect(report.rows[0]).toMatchObject({
      key: 'docker.io/library/redis',
      pulls: 2,
      pullsAvoided: 1,
      bytesFetched: redisManifest + b.size,
      bytesSaved: redisManifest + b.size,
    });
    expect(report.total.pulls).toBe(3);
    const csv = (await http(mirror.url, '/ui/report.csv?since=1d&by=upstream')).body.toString();
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe('upstream,pulls,pullsAvoided,bytesServed,bytesFetched,bytesSaved');
    expect(lines[1]).toMatch(/^docker\.io,3,1,/);
    expect(lines[2]).toMatch(/^total,3,1,/);
    expect((await http(mirror.url, '/ui/api/report?since=yesterdayish')).status).toBe(400);
  });

  it('cargohold report gives the same numbers through the running server and, once it stopped, from the data dir', async () => {
    const { hub, mirror: server } = await setUp();
    const layer = randomLayer(40_000);
    hub.push('library/node', 'latest', image([layer]));
    for (let i = 0; i < 3; i++) await http(server.url, '/v2/library/node/manifests/latest');
    await http(server.url, `/v2/library/node/blobs/${layer.digest}`);
    await server.idle();
    const page = (await http(server.url, '/ui/api/report?since=1h&by=image')).json();
    const report = async () => {
      const cli = startCli(['report', '--json', '--since', '1h', '--data-dir', server.dataDir]);
      expect((await cli.exited).code).toBe(0);
      return JSON.parse(cli.output());
    };
    const remote = await report();
    expect(remote.rows).toEqual(page.rows);
    expect(remote.rows).toEqual([
      {
        key: 'docker.io/library/node',
        pulls: 3,
        pullsAvoided: 2,
        bytesServed: expect.any(Number),
        bytesFetched: expect.any(Number),
        bytesSaved: expect.any(Number),
      },
    ]);
    expect(remote.rows[0].bytesFetched).toBe(hub.manifests.get(hub.repos.get('library/node')!.tags.get('latest')!)!.size + layer.size);
    await server.close();
    const local = await report();
    expect(local.rows).toEqual(remote.rows);
    expect(local.total).toEqual(remote.total);
  });

  it('the traffic history is kept in the metadata store: a restarted server shows what the one before it served', async () => {
    const { hub, mirror: first } = await setUp();
    hub.push('library/node', 'latest', image([randomLayer(10_000)]));
    await http(first.url, '/v2/library/node/manifests/latest');
    await http(first.url, '/v2/library/node/manifests/latest');
    await first.close(); // flushes the counts not yet written
    mirror = await startMirror(hub.registryUrl, { upstream: hub.trusted }, first.dataDir);
    const report = (await http(mirror.url, '/ui/api/report?since=1h&by=upstream')).json();
    expect(report.rows).toEqual([expect.objectContaining({ key: 'docker.io', pulls: 2, pullsAvoided: 1 })]);
  });

  it('pin and refresh need the admin role and a same-origin JSON POST', async () => {
    const { hub, mirror } = await setUp({ ui: { anonymous: 'admin' } });
    hub.push('library/node', 'latest', image([randomLayer(10_000)]));
    await http(mirror.url, '/v2/library/node/manifests/latest');
    const target = { repository: 'docker.io/library/node', reference: 'latest' };
    // A cross-site form, a text/plain POST and another origin are all refused, and pin nothing.
    const form = await http(mirror.url, '/ui/api/pin', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'repository=library/node',
    });
    expect(form.status).toBe(403);
    const foreign = await http(mirror.url, '/ui/api/pin', {
      ...json(target),
      headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
    });
    expect(foreign.status).toBe(403);
    const crossSite = await http(mirror.url, '/ui/api/pin', {
      ...json(target),
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    expect(await pinnedOnPage(mirror, 'docker.io/library/node:latest')).toBe('no');

    const pinned = await http(mirror.url, '/ui/api/pin', json(target));
    expect([pinned.status, pinned.json().message]).toEqual([200, 'docker.io/library/node:latest pinned']);
    expect(await pinnedOnPage(mirror, 'docker.io/library/node:latest')).toBe('yes');
    expect((await http(mirror.url, '/ui/api/pin', json({ repository: 'docker.io/library/node' }))).status).toBe(400);

    const heads = hub.count({ method: 'HEAD', path: '/v2/library/node/manifests/latest' });
    const refreshed = await http(mirror.url, '/ui/api/refresh', json(target));
    expect(refreshed.status).toBe(200);
    expect(hub.count({ method: 'HEAD', path: '/v2/library/node/manifests/latest' })).toBe(heads + 1); // within the TTL: asked anyway
    expect((await http(mirror.url, '/ui/api/unpin', json(target))).json().message).toBe('docker.io/library/node:latest unpinned');
  });

  it('a viewer sees no buttons and may not change anything; anonymous none and ui off hide the dashboard', async () => {
    const { hub, mirror } = await setUp();
    hub.push('library/node', 'latest', image([randomLayer(10_000)]));
    await http(mirror.url, '/v2/library/node/manifests/latest');
    expect((await http(mirror.url, '/ui/images')).body.toString()).not.toContain('data-post=');
    const refused = await http(mirror.url, '/ui/api/pin', json({ repository: 'docker.io/library/node', reference: 'latest' }));
    expect(refused.status).toBe(403);
    expect(await pinnedOnPage(mirror, 'docker.io/library/node:latest')).toBe('no');
    await mirror.destroy();

    const hidden = await withMirror({ ui: { anonymous: 'none' } }, (url) => http(url, '/'));
    expect([hidden.status, hidden.headers['www-authenticate']]).toEqual([401, 'Basic realm="cargohold"']);
    const off = await withMirror({ ui: { enabled: false } }, (url) => http(url, '/'));
    expect(off.status).toBe(404);
    expect(off.json().errors[0].code).toBe('UNSUPPORTED');
  });

  it('the Now view lists a fill in progress with its bytes and readers', async () => {
    const { hub, mirror } = await setUp();
    const layer = randomLayer(2_000_000);
    hub.push('library/slow', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 500_000, release: new Promise<void>((r) => (release = r)) });
    const pending = http(mirror.url, `/v2/library/slow/blobs/${layer.digest}`);
    let now: any;
    await waitFor(
      async () => {
        now = (await http(mirror.url, '/ui/api/now')).json();
        return now.fills[0]?.received >= 500_000;
      },
      10_000,
      'the fill to reach the pause',
    );
    expect(now.fills).toHaveLength(1);
    expect(now.fills[0]).toMatchObject({
      digest: layer.digest,
      repository: 'docker.io/library/slow',
      size: layer.size,
      readers: 1,
      state: 'running',
    });
    expect(now.fills[0].received).toBe(500_000);
    const fragment = (await http(mirror.url, '/ui/fragments/now')).body.toString();
    expect(fragment).toContain(`data-fill="${layer.digest}"`);
    release();
    expect((await pending).sha256()).toBe(layer.digest);
    await mirror.idle();
    expect((await http(mirror.url, '/ui/api/now')).json().fills).toEqual([]);
  });
});
