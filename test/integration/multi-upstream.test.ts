import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import type { WarmJobEvent } from '../../src/warm/warm-job.js';
import { image, randomLayer } from '../fixtures/images.js';
import { CountingServer } from '../support/counting-server.js';
import { FakeHub } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';

const ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

/** Two upstreams behind one mirror: `hub` as docker.io, `ghcr` as ghcr.io. */
describe('several upstreams behind one endpoint', () => {
  let hub: FakeHub;
  let ghcr: FakeHub;
  let mirror: Mirror | undefined;

  beforeEach(async () => {
    hub = await FakeHub.start();
    ghcr = await FakeHub.start();
  });
  afterEach(async () => {
    await mirror?.destroy();
    mirror = undefined;
    await hub.close();
    await ghcr.close();
  });

  const start = (extra: Record<string, unknown> = {}, upstream: Record<string, unknown> = {}) =>
    startMirror(hub.registryUrl, {
      upstream: { ...hub.trusted, ...upstream },
      upstreams: { 'ghcr.io': { url: ghcr.registryUrl, ...ghcr.trusted, ...extra } },
    });

  it('the same repository name on two upstreams is two images: by ?ns=, by path prefix, and the default', async () => {
    mirror = await start();
    const onHub = image([randomLayer(3000)]);
    const onGhcr = image([randomLayer(3000)]);
    hub.push('foo/bar', '1', onHub);
    ghcr.push('foo/bar', '1', onGhcr);

    expect((await pull(mirror.url, 'foo/bar', '1')).digest).toBe(onHub.manifest.digest);
    expect((await pull(mirror.url, 'ghcr.io/foo/bar', '1')).digest).toBe(onGhcr.manifest.digest);
    expect((await pull(mirror.url, 'docker.io/foo/bar', '1')).digest).toBe(onHub.manifest.digest);

    // containerd: the host in ?ns=, answered with OCI-Namespace.
    const byNs = await http(mirror.url, '/v2/foo/bar/manifests/1?ns=ghcr.io', { headers: { accept: ACCEPT } });
    expect([byNs.status, byNs.headers['docker-content-digest'], byNs.headers['oci-namespace']]).toEqual([200, onGhcr.manifest.digest, 'ghcr.io']);
    const layer = onGhcr.blobs.at(-1)?.digest as string;
    const blob = await http(mirror.url, `/v2/foo/bar/blobs/${layer}?ns=ghcr.io`);
    expect([blob.status, blob.sha256(), blob.headers['oci-namespace']]).toEqual([200, layer, 'ghcr.io']);
    const hubByNs = await http(mirror.url, '/v2/foo/bar/manifests/1?ns=docker.io', { method: 'HEAD', headers: { accept: ACCEPT } });
    expect([hubByNs.headers['docker-content-digest'], hubByNs.headers['oci-namespace']]).toEqual([onHub.manifest.digest, 'docker.io']);
    // A request without ?ns= names no namespace in its answer.
    expect((await http(mirror.url, '/v2/foo/bar/manifests/1', { method: 'HEAD' })).headers['oci-namespace']).toBe(undefined);

    // Each image's manifest fetched once from its own upstream (after its 401; the tag TTL is 0: later pulls HEAD).
    const manifestGets = (h: FakeHub) =>
      h.requests.filter((r) => r.server === 'registry' && r.method === 'GET' && r.authorization && r.path.startsWith('/v2/foo/bar/manifests/'));
    expect(manifestGets(hub).map((r) => r.path)).toEqual(['/v2/foo/bar/manifests/1']);
    expect(manifestGets(ghcr).map((r) => r.path)).toEqual(['/v2/foo/bar/manifests/1']);
    // Neither upstream was asked for the other's content.
    expect(hub.count({ path: new RegExp(onGhcr.manifest.digest) })).toBe(0);
    expect(ghcr.count({ path: new RegExp(onHub.manifest.digest) })).toBe(0);

    const catalog = await http(mirror.url, '/v2/_catalog');
    expect(catalog.json()).toEqual({ repositories: ['docker.io/foo/bar', 'ghcr.io/foo/bar'] });
    const tags = await http(mirror.url, '/v2/ghcr.io/foo/bar/tags/list');
    expect(tags.json()).toEqual({ name: 'ghcr.io/foo/bar', tags: ['1'] });
  });

  it('library/ is Docker Hub only: ghcr.io/node is not ghcr.io/library/node', async () => {
    mirror = await start();
    const img = image([randomLayer(100)]);
    ghcr.push('node', '1', img);
    hub.push('library/node', '1', image([randomLayer(100)]));
    expect((await pull(mirror.url, 'ghcr.io/node', '1')).digest).toBe(img.manifest.digest);
    expect(ghcr.count({ path: /library/ })).toBe(0);
  });

  it('a blob is stored once across upstreams, and each repository link is confirmed by its own upstream', async () => {
    mirror = await start();
    const shared = randomLayer(20_000);
    const a = image([shared]);
    const b = image([shared, randomLayer(100)]);
    hub.push('team/app', '1', a);
    ghcr.push('team/app', '1', b);
    await pull(mirror.url, 'team/app', '1');
    await mirror.idle(); // every blob recorded: the shared one is found stored, not joined as a fill
    hub.resetCounts();
    const res = await http(mirror.url, `/v2/ghcr.io/team/app/blobs/${shared.digest}`);
    expect([res.status, res.sha256(), res.headers['x-cargohold-cache']]).toEqual([200, shared.digest, 'hit']);
    // Confirmed by ghcr.io with one HEAD (after its token); its bytes never fetched again, docker.io not asked.
    expect(ghcr.requests.map((r) => `${r.server} ${r.method} ${r.path.split('?')[0]} ${r.authorization ? 'auth' : '-'}`)).toEqual([
      `registry HEAD /v2/team/app/blobs/${shared.digest} -`,
      'realm GET /token -',
      `registry HEAD /v2/team/app/blobs/${shared.digest} auth`,
    ]);
    expect(hub.requests).toHaveLength(0);

    // A repository on ghcr.io that does not hold it is refused, whatever docker.io holds.
    ghcr.push('other/app', '1', image([randomLayer(10)]));
    const denied = await http(mirror.url, `/v2/ghcr.io/other/app/blobs/${shared.digest}`);
    expect([denied.status, errorCode(denied)]).toEqual([404, 'BLOB_UNKNOWN']);
  });

  it('tag freshness is per upstream', async () => {
    // docker.io keeps the test default TTL 0; ghcr.io serves its tags an hour without asking.
    mirror = await start({ tagTtlSeconds: 3600, tagTtlRules: [] });
    hub.push('foo/bar', '1', image([randomLayer(10)]));
    ghcr.push('foo/bar', '1', image([randomLayer(10)]));
    for (const name of ['foo/bar', 'ghcr.io/foo/bar']) await http(mirror.url, `/v2/${name}/manifests/1`, { headers: { accept: ACCEPT } });
    hub.resetCounts();
    ghcr.resetCounts();
    for (const name of ['foo/bar', 'ghcr.io/foo/bar']) {
      expect((await http(mirror.url, `/v2/${name}/manifests/1`, { headers: { accept: ACCEPT } })).status).toBe(200);
    }
    expect(hub.count({ server: 'registry', method: 'HEAD' })).toBe(1);
    expect(ghcr.requests).toHaveLength(0);
  });

  it('the pull quota is per upstream: docker.io spent does not block ghcr.io', async () => {
    mirror = await start();
    hub.pullQuota = { limit: 1, remaining: 0 };
    hub.push('foo/a', '1', image([randomLayer(10)]));
    ghcr.push('foo/a', '1', image([randomLayer(10)]));
    const blocked = await http(mirror.url, '/v2/foo/a/manifests/1', { headers: { accept: ACCEPT } });
    expect([blocked.status, errorCode(blocked)]).toEqual([429, 'TOOMANYREQUESTS']);
    const ok = await http(mirror.url, '/v2/ghcr.io/foo/a/manifests/1', { headers: { accept: ACCEPT } });
    expect(ok.status).toBe(200);
    const admin = new AdminClient(mirror.adminSocket);
    expect((await admin.rateLimit()).blockedForSeconds).toBeGreaterThan(0);
    expect((await admin.rateLimit('ghcr.io')).blockedForSeconds).toBe(0);
  });

  it('allow and deny globs: a repository left out is DENIED with no upstream request', async () => {
    mirror = await start({ allow: ['myorg/**'], deny: ['myorg/secret*'] });
    ghcr.push('myorg/team/app', '1', image([randomLayer(10)]));
    ghcr.push('myorg/secret-app', '1', image([randomLayer(10)]));
    ghcr.push('elsewhere/app', '1', image([randomLayer(10)]));
    expect((await http(mirror.url, '/v2/ghcr.io/myorg/team/app/manifests/1', { headers: { accept: ACCEPT } })).status).toBe(200);
    ghcr.resetCounts();
    for (const name of ['myorg/secret-app', 'elsewhere/app']) {
      const res = await http(mirror.url, `/v2/ghcr.io/${name}/manifests/1`);
      expect([res.status, errorCode(res)]).toEqual([403, 'DENIED']);
      const byNs = await http(mirror.url, `/v2/${name}/tags/list?ns=ghcr.io`);
      expect([byNs.status, errorCode(byNs)]).toEqual([403, 'DENIED']);
    }
    expect(ghcr.requests).toHaveLength(0);
  });

  describe('only configured upstreams are ever contacted', () => {
    let listener: CountingServer;
    beforeEach(async () => {
      listener = await new CountingServer().start();
    });
    afterEach(async () => {
      await listener.close();
    });

    it('an unknown ?ns= or host prefix (IP literals, localhost, metadata) is NAME_UNKNOWN and opens no connection', async () => {
      mirror = await start();
      const port = listener.port;
      const hosts = ['quay.io', `127.0.0.1:${port}`, `localhost:${port}`, 'localhost', '169.254.169.254', `169.254.169.254:${port}`, '10.0.0.1'];
      for (const host of hosts) {
        for (const path of [
          `/v2/foo/bar/manifests/1?ns=${host}`,
          `/v2/foo/bar/blobs/sha256:${'a'.repeat(64)}?ns=${host}`,
          `/v2/foo/bar/tags/list?ns=${host}`,
          `/v2/${host}/foo/bar/manifests/1`,
          `/v2/${host}/foo/bar/blobs/sha256:${'a'.repeat(64)}`,
          `/v2/${host}/foo/bar/referrers/sha256:${'a'.repeat(64)}`,
        ]) {
          const res = await http(mirror.url, path);
          expect([path, res.status, errorCode(res)]).toEqual([path, 404, 'NAME_UNKNOWN']);
        }
      }
      // An IPv6 literal is no valid name at all.
      const v6 = await http(mirror.url, '/v2/[::1]/foo/manifests/1');
      expect([v6.status, errorCode(v6)]).toEqual([400, 'NAME_INVALID']);
      expect(listener.connections).toBe(0);
      expect(hub.requests).toHaveLength(0);
      expect(ghcr.requests).toHaveLength(0);
    });

    it("a second upstream's token realm or redirect on another local port gets no connection", async () => {
      // ghcr.io trusts its own realm and CDN only; its challenge and its blob redirect point at the listener.
      mirror = await start({ tokenRealmOrigins: undefined, redirectOrigins: undefined });
      ghcr.realmOverride = `${listener.url}/token`;
      ghcr.push('foo/bar', '1', image([randomLayer(10)]));
      const viaRealm = await http(mirror.url, '/v2/ghcr.io/foo/bar/manifests/1');
      expect([viaRealm.status, errorCode(viaRealm)]).toEqual([503, 'UNAVAILABLE']);

      await mirror.destroy();
      mirror = await start({ tokenRealmOrigins: [ghcr.realmUrl], redirectOrigins: undefined });
      const img = image([randomLayer(100)]);
      ghcr.realmOverride = undefined;
      ghcr.push('foo/cdn', '1', img);
      ghcr.blobLocation = (digest) => `${listener.url}/blobs/${digest}`;
      const layer = img.blobs.at(-1)?.digest as string;
      const viaRedirect = await http(mirror.url, `/v2/ghcr.io/foo/cdn/blobs/${layer}`);
      expect([viaRedirect.status, errorCode(viaRedirect)]).toEqual([502, 'UNAVAILABLE']);
      // docker.io's trusted CDN is not trusted for ghcr.io.
      ghcr.blobLocation = (digest) => `${hub.cdnUrl}/blobs/${digest}`;
      const viaOtherCdn = await http(mirror.url, `/v2/ghcr.io/foo/cdn/blobs/${layer}`);
      expect([viaOtherCdn.status, errorCode(viaOtherCdn)]).toEqual([502, 'UNAVAILABLE']);
      expect(hub.count({ server: 'cdn' })).toBe(0);
      expect(listener.connections).toBe(0);
    });
  });

  it("each upstream's credentials go only to its own realm: never to the other upstream, a CDN, or the log", async () => {
    const hubBasic = `Basic ${Buffer.from('alice:hub-secret').toString('base64')}`;
    const ghcrBasic = `Basic ${Buffer.from('bob:ghcr-secret').toString('base64')}`;
    // ghcr.io's password from the environment variable its entry names (read once at start).
    process.env.CARGOHOLD_TEST_GHCR_PASSWORD = 'ghcr-secret';
    try {
      mirror = await start({ username: 'bob', passwordEnv: 'CARGOHOLD_TEST_GHCR_PASSWORD' }, { username: 'alice', password: 'hub-secret' });
    } finally {
      delete process.env.CARGOHOLD_TEST_GHCR_PASSWORD;
    }
    hub.credentials = { username: 'alice', password: 'hub-secret' };
    ghcr.credentials = { username: 'bob', password: 'ghcr-secret' };
    hub.push('foo/bar', '1', image([randomLayer(1000)]));
    ghcr.push('foo/bar', '1', image([randomLayer(1000)]));
    await pull(mirror.url, 'foo/bar', '1');
    await pull(mirror.url, 'ghcr.io/foo/bar', '1');

    // Each realm got its own upstream's Basic credentials, and only those.
    expect(hub.requests.filter((r) => r.server === 'realm').map((r) => r.authorization)).toEqual([hubBasic]);
    expect(ghcr.requests.filter((r) => r.server === 'realm').map((r) => r.authorization)).toEqual([ghcrBasic]);
    // Registries saw tokens only; CDNs saw nothing.
    for (const r of [...hub.requests, ...ghcr.requests].filter((x) => x.server === 'registry' && x.authorization)) {
      expect(r.authorization).toMatch(/^Bearer /);
    }
    expect([...hub.requests, ...ghcr.requests].filter((r) => r.server === 'cdn' && r.authorization)).toEqual([]);
    const logText = JSON.stringify(mirror.logs.lines);
    for (const secret of ['hub-secret', 'ghcr-secret', hubBasic.slice(6), ghcrBasic.slice(6)]) expect(logText).not.toContain(secret);
  });

  it("docker.io's credentials never reach a second upstream configured without any", async () => {
    mirror = await start({}, { username: 'alice', password: 'hub-secret' });
    hub.credentials = { username: 'alice', password: 'hub-secret' };
    ghcr.push('foo/bar', '1', image([randomLayer(1000)]));
    hub.push('foo/bar', '1', image([randomLayer(1000)]));
    await pull(mirror.url, 'foo/bar', '1');
    await pull(mirror.url, 'ghcr.io/foo/bar', '1');
    // The second host saw anonymous token requests and its own tokens, nothing else.
    expect(ghcr.requests.filter((r) => r.server === 'realm').map((r) => r.authorization)).toEqual([undefined]);
    const sent = ghcr.requests.map((r) => r.authorization).filter((a) => a !== undefined);
    expect(sent.length).toBeGreaterThan(0);
    for (const a of sent) expect(a).toMatch(/^Bearer /);
    expect(JSON.stringify(ghcr.requests)).not.toContain(Buffer.from('alice:hub-secret').toString('base64'));
  });

  it('warm and pin name an upstream by host; an unconfigured one fails with nothing contacted', async () => {
    mirror = await start();
    const img = image([randomLayer(2000)]);
    ghcr.push('foo/bar', '1', img);
    hub.push('foo/bar', '1', image([randomLayer(10)]));
    const events: WarmJobEvent[] = [];
    const admin = new AdminClient(mirror.adminSocket);
    await admin.warm(
      {
        targets: [
          { image: 'ghcr.io/foo/bar:1', platforms: 'all' },
          { image: 'quay.io/foo/bar:1', platforms: 'all' },
        ],
        concurrency: 2,
        pin: true,
      },
      (e) => events.push(e),
    );
    expect(events.filter((e) => e.kind === 'failed')).toEqual([
      { kind: 'failed', image: 'quay.io/foo/bar:1', message: 'no upstream is configured for registry "quay.io"' },
    ]);
    expect(ghcr.count({ server: 'cdn', method: 'GET' })).toBe(img.blobs.length);
    expect(hub.requests).toHaveLength(0);
    expect((await admin.pins()).map((p) => `${p.repository}:${p.reference}`)).toEqual(['ghcr.io/foo/bar:1']);
    ghcr.resetCounts();
    const res = await http(mirror.url, `/v2/ghcr.io/foo/bar/blobs/${img.blobs.at(-1)?.digest as string}`);
    expect([res.status, res.headers['x-cargohold-cache']]).toEqual([200, 'hit']);
    expect(ghcr.requests).toHaveLength(0);
  });
});
