import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';
import { waitFor } from '../support/wait.js';

/** A clock the test moves: TTLs are crossed without sleeping. */
function testClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (seconds: number) => (offset += seconds * 1000) };
}

async function withHubAndMirror(
  overrides: Parameters<typeof startMirror>[1],
  body: (hub: FakeHub, mirror: Mirror, clock: ReturnType<typeof testClock>) => Promise<void>,
): Promise<void> {
  const hub = await FakeHub.start();
  const clock = testClock();
  const mirror = await startMirror(
    hub.registryUrl,
    { ...overrides, upstream: { tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl], ...overrides?.upstream } },
    undefined,
    clock.now,
  );
  try {
    await body(hub, mirror, clock);
  } finally {
    await mirror.destroy();
    await hub.close();
  }
}

const TTL = { upstream: { tagTtlSeconds: 300, tagTtlRules: [{ match: 'latest', ttlSeconds: 60 }] } };

describe('tag freshness', () => {
  it('within the TTL no upstream request is sent; after it, exactly one HEAD and no GET when the digest is unchanged', async () => {
    await withHubAndMirror(TTL, async (hub, mirror, clock) => {
      hub.push('library/node', '17-alpine', image([randomLayer(1000)]));
      await pull(mirror.url, 'library/node', '17-alpine');
      hub.resetCounts();
      clock.advance(299);
      for (let i = 0; i < 5; i++) await pull(mirror.url, 'library/node', '17-alpine');
      expect(hub.requests).toHaveLength(0);
      clock.advance(2);
      await pull(mirror.url, 'library/node', '17-alpine');
      expect(hub.count({ server: 'registry', method: 'HEAD' })).toBe(1);
      expect(hub.count({ method: 'GET' })).toBe(0);
      // The check time was renewed: fresh again for another TTL.
      hub.resetCounts();
      await pull(mirror.url, 'library/node', '17-alpine');
      expect(hub.requests).toHaveLength(0);
    });
  });

  it('applies per-pattern TTLs (latest: 60 s here)', async () => {
    await withHubAndMirror(TTL, async (hub, mirror, clock) => {
      hub.push('library/node', 'latest', image([randomLayer(10)]));
      await http(mirror.url, '/v2/library/node/manifests/latest');
      hub.resetCounts();
      clock.advance(61);
      await http(mirror.url, '/v2/library/node/manifests/latest');
      expect(hub.count({ server: 'registry', method: 'HEAD' })).toBe(1);
    });
  });

  it('many clients asking for the same expired tag at once share one HEAD', async () => {
    await withHubAndMirror(TTL, async (hub, mirror, clock) => {
      hub.push('library/node', '17-alpine', image([randomLayer(10)]));
      await http(mirror.url, '/v2/library/node/manifests/17-alpine');
      hub.resetCounts();
      clock.advance(301);
      const replies = await Promise.all(
        Array.from({ length: 10 }, () => http(mirror.url, '/v2/library/node/manifests/17-alpine', { method: 'HEAD' })),
      );
      for (const r of replies) expect(r.status).toBe(200);
      expect(hub.count({ server: 'registry', method: 'HEAD', path: '/v2/library/node/manifests/17-alpine' })).toBe(1);
    });
  });

  it('keeps the check time in SQLite: a restarted mirror still serves within the TTL without asking', async () => {
    const hub = await FakeHub.start();
    const clock = testClock();
    const options = { ...TTL, upstream: { ...TTL.upstream, tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl] } };
    const first = await startMirror(hub.registryUrl, options, undefined, clock.now);
    try {
      hub.push('library/node', '17-alpine', image([randomLayer(10)]));
      await http(first.url, '/v2/library/node/manifests/17-alpine');
      await first.close();
      hub.resetCounts();
      const second = await startMirror(hub.registryUrl, options, first.dataDir, clock.now);
      try {
        const res = await http(second.url, '/v2/library/node/manifests/17-alpine');
        expect(res.status).toBe(200);
        expect(hub.requests).toHaveLength(0);
      } finally {
        await second.close();
      }
    } finally {
      await first.destroy();
      await hub.close();
    }
  });
});

describe('stale-if-error', () => {
  const failures: Array<[string, (hub: FakeHub) => Promise<void> | void]> = [
    ['upstream stopped', (hub) => hub.stopRegistry()],
    ['5xx', (hub) => void (hub.fault = () => ({ status: 503 }))],
    ['429', (hub) => void (hub.fault = () => ({ status: 429, headers: { 'retry-after': '30' } }))],
    [
      'token realm failure',
      (hub) => {
        hub.realmOverride = 'http://127.0.0.1:9/token'; // not a trusted realm: refused
        hub.fault = (r) =>
          r.authorization ? { status: 401, headers: { 'www-authenticate': 'Bearer realm="http://127.0.0.1:9/token",service="x"' } } : undefined;
      },
    ],
  ];
  for (const [what, fail] of failures) {
    it(`${what}: a cached image is still served, marked stale in the log and in X-Cargohold-Cache`, async () => {
      await withHubAndMirror(TTL, async (hub, mirror, clock) => {
        const img = image([randomLayer(1000)]);
        hub.push('library/node', '17-alpine', img);
        await pull(mirror.url, 'library/node', '17-alpine');
        clock.advance(3600);
        await fail(hub);
        const res = await http(mirror.url, '/v2/library/node/manifests/17-alpine');
        expect(res.status).toBe(200);
        expect(res.headers['docker-content-digest']).toBe(img.manifest.digest);
        expect(res.headers['x-cargohold-cache']).toBe('stale');
        await waitFor(() => mirror.logs.requests().at(-1)?.cache === 'stale');
        const pulled = await pull(mirror.url, 'library/node', '17-alpine');
        expect(pulled.digest).toBe(img.manifest.digest);
      });
    });
  }
});

describe('rate limits', () => {
  it('once the pull quota is exhausted, no manifest GET is sent upstream; cached tags are served', async () => {
    await withHubAndMirror(TTL, async (hub, mirror, clock) => {
      hub.pullQuota = { limit: 2, remaining: 2 };
      const a = image([randomLayer(10)]);
      hub.push('library/a', 'latest', a);
      hub.push('library/b', 'latest', image([randomLayer(10)]));
      hub.push('library/c', 'latest', image([randomLayer(10)]));
      expect((await http(mirror.url, '/v2/library/a/manifests/latest')).status).toBe(200);
      expect((await http(mirror.url, '/v2/library/b/manifests/latest')).status).toBe(200); // remaining now 0
      const gets = () => hub.count({ server: 'registry', method: 'GET', path: /\/manifests\// });
      const before = gets();
      const blocked = await http(mirror.url, '/v2/library/c/manifests/latest');
      expect([blocked.status, errorCode(blocked)]).toEqual([429, 'TOOMANYREQUESTS']);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      expect(gets()).toBe(before); // not even tried
      hub.push('library/a', 'latest', image([randomLayer(10)])); // the tag moved, but no GET may be spent
      clock.advance(120);
      const stale = await http(mirror.url, '/v2/library/a/manifests/latest');
      expect(stale.status).toBe(200);
      expect(stale.headers['docker-content-digest']).toBe(a.manifest.digest);
      expect(stale.headers['x-cargohold-cache']).toBe('stale');
      expect(gets()).toBe(before);
      expect(mirror.logs.find((l) => String(l.msg).includes('upstream pull quota exhausted'))).toBeDefined();
    });
  });
});

describe('offline mode', () => {
  it('never opens a connection to the upstream: hits are served, misses get 503 saying the mirror is offline', async () => {
    const hub = await FakeHub.start();
    const img = image([randomLayer(1000)]);
    hub.push('library/node', '17-alpine', img);
    const online = await startMirror(hub.registryUrl, { upstream: { tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl] } });
    let connections = 0;
    const trap: Server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
    const trapUrl = `http://127.0.0.1:${(trap.address() as { port: number }).port}`;
    try {
      await pull(online.url, 'library/node', '17-alpine');
      await online.close();
      const offline = await startMirror(trapUrl, { offline: true }, online.dataDir);
      try {
        const pulled = await pull(offline.url, 'library/node', '17-alpine');
        expect(pulled.digest).toBe(img.manifest.digest);
        const miss = await http(offline.url, '/v2/library/other/manifests/latest');
        expect([miss.status, errorCode(miss)]).toEqual([503, 'UNAVAILABLE']);
        expect(miss.json().errors[0].message).toMatch(/offline.*not cached/);
        const blobMiss = await http(offline.url, `/v2/library/node/blobs/sha256:${'c'.repeat(64)}`);
        expect(blobMiss.status).toBe(503);
        expect(connections).toBe(0);
      } finally {
        await offline.close();
      }
    } finally {
      await online.destroy();
      await hub.close();
      trap.close();
    }
  });
});
