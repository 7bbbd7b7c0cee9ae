import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import { image, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';

/** A clock that stands still until the test moves it: Retry-After values are exact. */
function frozenClock() {
  const base = Math.floor(Date.now() / 1000) * 1000;
  let offset = 0;
  return { base, now: () => base + offset, advance: (seconds: number) => (offset += seconds * 1000) };
}

const ctx = {} as { hub: FakeHub; mirror: Mirror; clock: ReturnType<typeof frozenClock>; admin: AdminClient };

beforeEach(async () => {
  ctx.hub = await FakeHub.start();
  ctx.clock = frozenClock();
  ctx.mirror = await startMirror(ctx.hub.registryUrl, { upstream: { tokenRealmOrigins: [ctx.hub.realmUrl] } }, undefined, ctx.clock.now);
  ctx.admin = new AdminClient(ctx.mirror.adminSocket);
});

afterEach(async () => {
  await ctx.mirror?.destroy();
  await ctx.hub?.close();
});

const manifestGets = () => ctx.hub.count({ server: 'registry', method: 'GET', path: /\/manifests\// });

/** Answers every manifest GET 429 with this Retry-After until the test says otherwise. */
function tooManyRequests(retryAfter: string): { stop(): void } {
  let on = true;
  ctx.hub.fault = (r) =>
    on && r.method === 'GET' && r.path.includes('/manifests/') ? { status: 429, headers: { 'retry-after': retryAfter } } : undefined;
  return { stop: () => void (on = false) };
}

describe('Retry-After is capped', () => {
  it('a 429 with Retry-After: 999999999 holds manifest GETs back for upstream.maxRetryAfterSeconds (3600 s), not 31 years', async () => {
    const { hub, mirror, clock, admin } = ctx;
    hub.push('library/a', 'latest', image([randomLayer(10)]));
    hub.push('library/b', 'latest', image([randomLayer(10)]));
    const fault = tooManyRequests('999999999');
    const first = await http(mirror.url, '/v2/library/a/manifests/latest');
    expect([first.status, errorCode(first), first.headers['retry-after']]).toEqual([429, 'TOOMANYREQUESTS', '3600']);
    fault.stop();
    expect(await admin.rateLimit()).toEqual({
      limit: null,
      remaining: null,
      windowSeconds: null,
      blocked: true,
      blockedUntil: new Date(clock.base + 3600_000).toISOString(),
      blockedForSeconds: 3600,
      reason: 'upstream answered 429',
    });
    const started = mirror.logs.find((l) => String(l.msg).startsWith('upstream answered 429: no manifest GETs upstream'));
    expect([started?.until, started?.reason, started?.seconds]).toEqual([
      new Date(clock.base + 3600_000).toISOString(),
      'upstream answered 429',
      3600,
    ]);

    clock.advance(3599);
    const before = manifestGets();
    const held = await http(mirror.url, '/v2/library/b/manifests/latest');
    expect([held.status, errorCode(held), held.headers['retry-after']]).toEqual([429, 'TOOMANYREQUESTS', '1']);
    expect(manifestGets()).toBe(before); // not even tried

    clock.advance(1);
    const after = await http(mirror.url, '/v2/library/b/manifests/latest');
    expect(after.status).toBe(200);
    expect(manifestGets()).toBeGreaterThan(before);
    expect(mirror.logs.find((l) => l.msg === 'upstream rate limit block lifted: manifest GETs go upstream again')?.reason).toBe('the block ran out');
    expect((await admin.rateLimit()).blocked).toBe(false);
  });

  it('reads the HTTP-date form of Retry-After, capped the same way', async () => {
    const { hub, mirror, clock } = ctx;
    hub.push('library/a', 'latest', image([randomLayer(10)]));
    const soon = tooManyRequests(new Date(clock.base + 120_000).toUTCString());
    const first = await http(mirror.url, '/v2/library/a/manifests/latest');
    expect([first.status, first.headers['retry-after']]).toEqual([429, '120']);
    soon.stop();
    clock.advance(120);
    const far = tooManyRequests(new Date(clock.now() + 10 * 365 * 86400_000).toUTCString());
    const second = await http(mirror.url, '/v2/library/a/manifests/latest');
    expect([second.status, second.headers['retry-after']]).toEqual([429, '3600']);
    far.stop();
  });
});

describe('a spent quota', () => {
  /** Spends a quota of 2 on two tags; the third, uncached, is then held back. */
  async function spendQuota(): Promise<void> {
    const { hub, mirror } = ctx;
    hub.pullQuota = { limit: 2, remaining: 2 };
    for (const name of ['a', 'b', 'c']) hub.push(`library/${name}`, 'latest', image([randomLayer(10)]));
    expect((await http(mirror.url, '/v2/library/a/manifests/latest')).status).toBe(200);
    expect((await http(mirror.url, '/v2/library/b/manifests/latest')).status).toBe(200); // remaining now 0
    const blocked = await http(mirror.url, '/v2/library/c/manifests/latest');
    expect([blocked.status, errorCode(blocked), blocked.headers['retry-after']]).toEqual([429, 'TOOMANYREQUESTS', '3600']); // the 6-hour window, capped
  }

  it('the block lifts as soon as a later response (a free HEAD) reports quota back', async () => {
    const { hub, mirror } = ctx;
    await spendQuota();
    const before = manifestGets();
    (hub.pullQuota as { remaining: number }).remaining = 100; // the upstream's window rolled over
    // A cached tag is revalidated with a HEAD (tag TTL 0 in tests), which spends nothing and carries the headers.
    const revalidated = await http(mirror.url, '/v2/library/a/manifests/latest');
    expect([revalidated.status, revalidated.headers['x-cargohold-cache']]).toEqual([200, 'hit']);
    expect(hub.count({ server: 'registry', method: 'HEAD', path: '/v2/library/a/manifests/latest' })).toBe(1);
    const lifted = mirror.logs.find((l) => l.msg === 'upstream rate limit block lifted: manifest GETs go upstream again');
    expect(lifted?.reason).toBe('upstream reports 100 pulls remaining');

    const uncached = await http(mirror.url, '/v2/library/c/manifests/latest');
    expect([uncached.status, uncached.headers['x-cargohold-cache']]).toEqual([200, 'miss']);
    expect(manifestGets()).toBe(before + 1);
    expect(hub.pullQuota?.remaining).toBe(99);
  });

  it('an operator sees the block and clears it through the admin API', async () => {
    const { hub, mirror, clock, admin } = ctx;
    expect(await admin.clearRateLimit()).toEqual({
      cleared: false,
      state: { limit: null, remaining: null, windowSeconds: null, blocked: false, blockedUntil: null, blockedForSeconds: 0, reason: null },
    });
    await spendQuota();
    expect(await admin.rateLimit()).toEqual({
      limit: 2,
      remaining: 0,
      windowSeconds: 21600,
      blocked: true,
      blockedUntil: new Date(clock.base + 3600_000).toISOString(),
      blockedForSeconds: 3600,
      reason: 'upstream pull quota exhausted',
    });
    (hub.pullQuota as { remaining: number }).remaining = 5; // the quota is back, but nothing asked the upstream yet
    const cleared = await admin.clearRateLimit();
    expect([cleared.cleared, cleared.state.blocked, cleared.state.blockedUntil]).toEqual([true, false, null]);
    expect(mirror.logs.find((l) => l.msg === 'upstream rate limit block lifted: manifest GETs go upstream again')?.reason).toBe(
      'cleared through the admin API',
    );
    const before = manifestGets();
    const uncached = await http(mirror.url, '/v2/library/c/manifests/latest');
    expect(uncached.status).toBe(200);
    expect(manifestGets()).toBe(before + 1);
    expect((await admin.rateLimit()).remaining).toBe(4);
  });
});
