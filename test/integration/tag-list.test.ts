import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { image, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';

/** Pushed in this (unsorted) order; the spec wants them listed in code-point order. */
const PUSHED = ['v2', 'latest', 'B', '1.0', 'v10', '_x', 'a-1', 'A', 'v1'];
const SORTED = ['1.0', 'A', 'B', '_x', 'a-1', 'latest', 'v1', 'v10', 'v2'];

let hub: FakeHub;
let mirror: Mirror | undefined;
let time: number;

async function start(overrides: ConfigInput = {}): Promise<Mirror> {
  mirror = await startMirror(
    hub.registryUrl,
    { ...overrides, upstream: { tokenRealmOrigins: [hub.realmUrl], tagTtlSeconds: 300, ...overrides.upstream } },
    undefined,
    () => time,
  );
  return mirror;
}

beforeEach(async () => {
  time = 1_700_000_000_000;
  hub = await FakeHub.start();
  const manifest = image([randomLayer(10)]);
  for (const tag of PUSHED) hub.push('library/node', tag, manifest);
});

afterEach(async () => {
  await mirror?.destroy();
  mirror = undefined;
  await hub.close();
});

/** Tag list GETs the upstream answered (not counting the unauthenticated first try its token challenge answers). */
const tagListGets = (path?: string) =>
  hub.requests.filter(
    (r) =>
      r.server === 'registry' &&
      r.method === 'GET' &&
      r.authorization !== undefined &&
      (path === undefined ? r.path.includes('/tags/list') : r.path === path),
  ).length;

/** Follows Link from `path` as a client does; fails if the chain does not end within `maxPages`. */
async function walk(base: string, path: string, maxPages = 20): Promise<string[][]> {
  const pages: string[][] = [];
  let next: string | undefined = path;
  while (next !== undefined) {
    if (pages.length === maxPages) throw new Error(`the Link chain did not end within ${maxPages} pages`);
    const res = await http(base, next);
    expect(res.status).toBe(200);
    pages.push(res.json<{ tags: string[] }>().tags);
    next = /^<([^>]+)>; rel="next"$/.exec(res.headers.link ?? '')?.[1];
  }
  return pages;
}

describe('tags/list is sorted and paged here, whatever the upstream does with n and last', () => {
  for (const mode of ['unpaged', 'self-link'] as const) {
    it(`an upstream that ignores n and last (${mode}): sorted pages, a Link chain that ends, every tag once, one upstream list per TTL`, async () => {
      hub.tagPaging = mode;
      const m = await start();
      const pages = await walk(m.url, '/v2/library/node/tags/list?n=2');
      expect(pages).toEqual([['1.0', 'A'], ['B', '_x'], ['a-1', 'latest'], ['v1', 'v10'], ['v2']]);
      // A self-link costs the one request that shows it brings nothing new.
      const perList = mode === 'unpaged' ? 1 : 2;
      expect(tagListGets()).toBe(perList);
      const all = await http(m.url, '/v2/node/tags/list');
      expect(all.json()).toEqual({ name: 'library/node', tags: SORTED });
      expect(all.headers.link).toBeUndefined();
      expect(tagListGets()).toBe(perList);
      // Past the TTL the list is fetched again, once.
      time += 300_000;
      expect((await walk(m.url, '/v2/library/node/tags/list?n=4')).flat()).toEqual(SORTED);
      expect(tagListGets()).toBe(2 * perList);
    });
  }

  it('an upstream that pages: its pages are followed once, then paged here by the client`s n', async () => {
    hub.tagPaging = 'paged';
    const m = await start({ limits: { maxPageSize: 4 } });
    expect((await walk(m.url, '/v2/library/node/tags/list?n=3')).flat()).toEqual(SORTED);
    // 9 tags in upstream pages of 4: three requests, the later ones from the upstream's Link.
    expect(tagListGets('/v2/library/node/tags/list?n=4')).toBe(1);
    expect(tagListGets('/v2/library/node/tags/list?n=4&last=_x')).toBe(1);
    expect(tagListGets('/v2/library/node/tags/list?n=4&last=v10')).toBe(1);
    expect(tagListGets()).toBe(3);
    // No n: pages of limits.maxPageSize, with Link.
    const pages = await walk(m.url, '/v2/library/node/tags/list');
    expect(pages.map((p) => p.length)).toEqual([4, 4, 1]);
    expect(tagListGets()).toBe(3);
  });

  it('clients asking at once share one upstream list', async () => {
    hub.tagPaging = 'unpaged';
    const m = await start();
    const replies = await Promise.all(Array.from({ length: 5 }, () => http(m.url, '/v2/library/node/tags/list?n=3')));
    for (const reply of replies) expect(reply.json().tags).toEqual(['1.0', 'A', 'B']);
    expect(tagListGets()).toBe(1);
  });

  it('n=0 is an empty list without Link; last at or beyond the end is an empty list without Link; last need not be a tag', async () => {
    hub.tagPaging = 'unpaged';
    const m = await start();
    const zero = await http(m.url, '/v2/library/node/tags/list?n=0');
    expect([zero.status, zero.json()]).toEqual([200, { name: 'library/node', tags: [] }]);
    expect(zero.headers.link).toBeUndefined();
    for (const last of ['v2', 'zzz']) {
      const beyond = await http(m.url, `/v2/library/node/tags/list?n=2&last=${last}`);
      expect([beyond.status, beyond.json().tags, beyond.headers.link]).toEqual([200, [], undefined]);
    }
    const between = await http(m.url, '/v2/library/node/tags/list?n=2&last=b');
    expect(between.json().tags).toEqual(['latest', 'v1']);
    expect(between.headers.link).toBe('</v2/library/node/tags/list?n=2&last=v1>; rel="next"');
    expect(tagListGets()).toBe(1);
  });

  it('the Link keeps ?ns=, so the next page names the same registry', async () => {
    hub.tagPaging = 'unpaged';
    const m = await start();
    const first = await http(m.url, '/v2/library/node/tags/list?ns=docker.io&n=2');
    expect(first.headers.link).toBe('</v2/library/node/tags/list?ns=docker.io&n=2&last=A>; rel="next"');
    expect((await walk(m.url, '/v2/library/node/tags/list?ns=docker.io&n=2')).flat()).toEqual(SORTED);
  });

  it('an unknown repository is 404 NAME_UNKNOWN, even for n=0', async () => {
    const m = await start();
    for (const path of ['/v2/library/nothing/tags/list', '/v2/library/nothing/tags/list?n=0']) {
      const res = await http(m.url, path);
      expect([res.status, errorCode(res)]).toEqual([404, 'NAME_UNKNOWN']);
    }
  });

  it('upstream down or offline: the tags cached here, sorted and paged', async () => {
    hub.tagPaging = 'unpaged';
    const m = await start({ upstream: { tagTtlSeconds: 0 } });
    for (const tag of ['v2', 'latest', 'A']) expect((await http(m.url, `/v2/library/node/manifests/${tag}`)).status).toBe(200);
    await hub.stopRegistry();
    expect(await walk(m.url, '/v2/library/node/tags/list?n=2')).toEqual([['A', 'latest'], ['v2']]);
    const dataDir = m.dataDir;
    await m.close();
    mirror = await startMirror(hub.registryUrl, { offline: true }, dataDir);
    expect(await walk(mirror.url, '/v2/library/node/tags/list?n=2')).toEqual([['A', 'latest'], ['v2']]);
  });
});
