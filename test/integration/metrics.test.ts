import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { scrape, scrapeWhen, type Scrape } from '../support/metrics.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { waitFor } from '../support/wait.js';

const MANIFESTS = '/v2/:name/manifests/:reference';
const BLOBS = '/v2/:name/blobs/:digest';

let hub: FakeHub;
let mirror: Mirror;
let time: number;
const extra: Mirror[] = [];

beforeEach(async () => {
  time = Date.UTC(2026, 0, 1);
  hub = await FakeHub.start();
  mirror = await startMirror(hub.registryUrl, { upstream: { ...hub.trusted, tagTtlSeconds: 60 } }, undefined, () => time);
});

afterEach(async () => {
  for (const m of extra.splice(0)) await m.destroy();
  await mirror.destroy();
  await hub.close();
});

// Upstreams are labelled by the host clients name them by (the fake hub stands in for docker.io).
const upstream = () => 'docker.io';

/** How much each counter moved between two scrapes. */
function delta(before: Scrape, after: Scrape) {
  return (name: string, labels: Record<string, string> = {}) => after.count(name, labels) - before.count(name, labels);
}

function requests(s: Scrape, route: string, status = '200', method = 'GET'): number {
  return s.count('cargohold_http_requests_total', { route, method, status });
}

describe('/metrics', () => {
  it('a miss then hits: outcomes per kind, bytes by source, requests per route pattern, and each upstream request behind them', async () => {
    const layer = randomLayer(100_000);
    const img = image([layer]);
    hub.push('library/node', 'latest', img);
    const before = await scrape(mirror.url);

    const manifest = await http(mirror.url, '/v2/library/node/manifests/latest');
    const blob = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([manifest.headers['x-cargohold-cache'], blob.headers['x-cargohold-cache']]).toEqual(['miss', 'miss']);
    await mirror.idle();
    const again = await http(mirror.url, '/v2/library/node/manifests/latest'); // within the tag's TTL: no upstream request
    const blobAgain = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([again.headers['x-cargohold-cache'], blobAgain.headers['x-cargohold-cache']]).toEqual(['hit', 'hit']);
    expect(blobAgain.sha256()).toBe(layer.digest);

    const after = await scrapeWhen(mirror.url, (s) => requests(s, MANIFESTS) === 2 && requests(s, BLOBS) === 2);
    const moved = delta(before, after);
    expect(after.all('cargohold_cache_requests_total')).toEqual({
      '{kind=blob,outcome=hit}': 1,
      '{kind=blob,outcome=miss}': 1,
      '{kind=manifest,outcome=hit}': 1,
      '{kind=manifest,outcome=miss}': 1,
    });
    const bytes = img.manifest.bytes.length + layer.bytes.length;
    expect(moved('cargohold_served_bytes_total', { source: 'upstream' })).toBe(bytes);
    expect(moved('cargohold_served_bytes_total', { source: 'cache' })).toBe(bytes);
    expect(moved('cargohold_http_requests_total', { route: MANIFESTS, method: 'GET', status: '200' })).toBe(2);
    expect(moved('cargohold_http_requests_total', { route: BLOBS, method: 'GET', status: '200' })).toBe(2);
    expect(moved('cargohold_http_request_duration_seconds_count', { route: BLOBS })).toBe(2);

    // The manifest GET's 401 that taught the realm, the token, the GET again; the blob's 307 to the CDN and the CDN's 200.
    const host = upstream();
    expect(after.all('cargohold_upstream_requests_total')).toEqual({
      [`{kind=manifest,status=401,upstream=${host}}`]: 1,
      [`{kind=token,status=200,upstream=${host}}`]: 1,
      [`{kind=manifest,status=200,upstream=${host}}`]: 1,
      [`{kind=blob,status=307,upstream=${host}}`]: 1,
      [`{kind=blob,status=200,upstream=${host}}`]: 1,
    });
    expect(hub.requests.length).toBe(5);
    expect(after.get('cargohold_upstream_request_duration_seconds_count', { upstream: host, kind: 'manifest' })).toBe(2);
    expect(after.get('cargohold_upstream_request_duration_seconds_count', { upstream: host, kind: 'token' })).toBe(1);
    expect(after.get('cargohold_upstream_request_duration_seconds_count', { upstream: host, kind: 'blob' })).toBe(2);

    expect(after.get('cargohold_store_blobs')).toBe(1);
    expect(after.get('cargohold_store_bytes')).toBe(layer.bytes.length);
    expect(after.get('cargohold_fills_in_flight')).toBe(0);
    expect(after.get('cargohold_fill_readers')).toBe(0);
    // Scraping sent nothing upstream.
    expect(hub.requests.length).toBe(5);
  });

  it('concurrent clients on one uncached blob: one miss, the others coalesced, one upstream download; the fill gauges show it', async () => {
    const layer = randomLayer(1024 * 1024);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 256 * 1024, release: new Promise<void>((r) => (release = r)) });
    const before = await scrape(mirror.url);

    const clients = Array.from({ length: 4 }, () => http(mirror.url, `/v2/library/node/blobs/${layer.digest}`));
    await waitFor(() => mirror.inspect().readers === 4, 10_000, 'four readers on the fill');
    const during = await scrape(mirror.url);
    expect(during.get('cargohold_fills_in_flight')).toBe(1);
    expect(during.get('cargohold_fill_readers')).toBe(4);
    release();
    for (const res of await Promise.all(clients))
      expect([res.status, res.headers['x-cargohold-cache'], res.sha256()]).toEqual([200, 'miss', layer.digest]);
    await mirror.idle();

    const after = await scrapeWhen(mirror.url, (s) => requests(s, BLOBS) === 4);
    const moved = delta(before, after);
    expect(moved('cargohold_cache_requests_total', { kind: 'blob', outcome: 'miss' })).toBe(1);
    expect(moved('cargohold_cache_requests_total', { kind: 'blob', outcome: 'coalesced' })).toBe(3);
    expect(moved('cargohold_cache_requests_total', { kind: 'blob', outcome: 'hit' })).toBe(0);
    expect(moved('cargohold_served_bytes_total', { source: 'upstream' })).toBe(4 * layer.bytes.length);
    expect(moved('cargohold_served_bytes_total', { source: 'cache' })).toBe(0);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    expect(after.get('cargohold_upstream_requests_total', { upstream: upstream(), kind: 'blob', status: '200' })).toBe(1);
    expect(after.get('cargohold_fills_in_flight')).toBe(0);
    expect(after.get('cargohold_fill_readers')).toBe(0);
    expect(after.get('cargohold_store_blobs')).toBe(1);
  });

  it('a stale serve: past the TTL with the upstream down, the tag is served stale from the cache and the failed HEAD is counted', async () => {
    const img = image([randomLayer(1000)]);
    hub.push('library/node', 'latest', img);
    expect((await http(mirror.url, '/v2/library/node/manifests/latest')).headers['x-cargohold-cache']).toBe('miss');
    const before = await scrapeWhen(mirror.url, (s) => requests(s, MANIFESTS) === 1);

    time += 61_000;
    await hub.stopRegistry();
    const stale = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect([stale.status, stale.headers['x-cargohold-cache'], stale.body.equals(img.manifest.bytes)]).toEqual([200, 'stale', true]);

    const after = await scrapeWhen(mirror.url, (s) => requests(s, MANIFESTS) === 2);
    const moved = delta(before, after);
    expect(moved('cargohold_cache_requests_total', { kind: 'manifest', outcome: 'stale' })).toBe(1);
    expect(moved('cargohold_cache_requests_total', { kind: 'manifest', outcome: 'hit' })).toBe(0);
    expect(moved('cargohold_cache_requests_total', { kind: 'manifest', outcome: 'miss' })).toBe(0);
    expect(moved('cargohold_served_bytes_total', { source: 'cache' })).toBe(img.manifest.bytes.length);
    expect(moved('cargohold_served_bytes_total', { source: 'upstream' })).toBe(0);
    expect(moved('cargohold_upstream_requests_total', { upstream: upstream(), kind: 'head', status: 'error' })).toBe(1);
    expect(moved('cargohold_upstream_request_duration_seconds_count', { upstream: upstream(), kind: 'head' })).toBe(1);
  });

  it("the upstream's pull quota left, once it sent one", async () => {
    hub.pullQuota = { limit: 100, remaining: 40 };
    hub.push('library/node', 'latest', image([randomLayer(1000)]));
    expect((await scrape(mirror.url)).all('cargohold_upstream_ratelimit_remaining')).toEqual({});
    await http(mirror.url, '/v2/library/node/manifests/latest');
    expect((await scrape(mirror.url)).all('cargohold_upstream_ratelimit_remaining')).toEqual({ [`{upstream=${upstream()}}`]: 39 });
  });

  it('requests are labelled by route pattern, never by path; scraping sends nothing upstream; each server has its own counters', async () => {
    hub.push('library/node', 'latest', image([randomLayer(1000)]));
    expect(errorCode(await http(mirror.url, '/v2/library/node/manifests/nope'))).toBe('MANIFEST_UNKNOWN');
    expect(errorCode(await http(mirror.url, '/v2/library/node/blobs/sha256:abc'))).toBe('DIGEST_INVALID');
    expect((await http(mirror.url, '/v2/library/node/tags/list')).status).toBe(200);
    expect((await http(mirror.url, '/nowhere/at/all')).status).toBe(404);
    expect((await http(mirror.url, '/v2/library/node/blobs/uploads/', { method: 'POST' })).status).toBe(405);
    expect((await http(mirror.url, '/healthz')).status).toBe(200);
    const upstreamBefore = hub.requests.length;

    const after = await scrapeWhen(
      mirror.url,
      (s) => s.count('cargohold_http_requests_total', { route: '/healthz', method: 'GET', status: '200' }) === 1,
    );
    expect(hub.requests.length).toBe(upstreamBefore);
    const counted = after.all('cargohold_http_requests_total');
    delete counted['{method=GET,route=/metrics,status=200}']; // the scrapes so far, however many waiting took
    expect(counted).toEqual({
      [`{method=GET,route=${MANIFESTS},status=404}`]: 1,
      [`{method=GET,route=${BLOBS},status=400}`]: 1,
      '{method=GET,route=/v2/:name/tags/list,status=200}': 1,
      '{method=GET,route=other,status=404}': 1,
      '{method=POST,route=/v2/:name/blobs/uploads/,status=405}': 1,
      '{method=GET,route=/healthz,status=200}': 1,
    });
    // Node's own metrics come along.
    expect(after.get('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(after.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(after.text).toMatch(/^# TYPE cargohold_http_requests_total counter$/m);

    const other = await startMirror(hub.registryUrl, { upstream: hub.trusted });
    extra.push(other);
    expect((await scrape(other.url)).all('cargohold_cache_requests_total')).toEqual({});
    expect((await scrape(other.url)).count('cargohold_http_requests_total', { route: MANIFESTS, method: 'GET', status: '404' })).toBe(0);
  });
});
