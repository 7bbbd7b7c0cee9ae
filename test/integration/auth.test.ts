import { describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { errorCode, http } from '../support/http.js';
import { startMirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';

describe('token auth against the upstream', () => {
  const ctx = useHubAndMirror(() => ({ upstream: { username: 'alice', password: 's3cret-pass' } }));

  it('sends credentials only to the realm, caches the token per scope, and keeps them out of the log', async () => {
    const { hub, mirror } = ctx;
    hub.credentials = { username: 'alice', password: 's3cret-pass' };
    hub.push('library/node', 'latest', image([randomLayer(1000), randomLayer(1000)]));
    hub.push('library/redis', 'latest', image([randomLayer(1000)]));
    await pull(mirror.url, 'library/node', 'latest');
    await pull(mirror.url, 'library/node', 'latest');
    await pull(mirror.url, 'library/redis', 'latest');
    // One token per repository scope, fetched with Basic credentials from the realm.
    const realm = hub.requests.filter((r) => r.server === 'realm');
    expect(realm).toHaveLength(2);
    for (const r of realm) expect(r.authorization).toMatch(/^Basic /);
    // The registry only ever saw Bearer tokens; the CDN saw nothing.
    for (const r of hub.requests.filter((x) => x.server === 'registry' && x.authorization)) expect(r.authorization).toMatch(/^Bearer /);
    expect(hub.requests.some((r) => r.server === 'cdn' && r.authorization)).toBe(false);
    // The second repository got its token up front: no 401 round trip for it.
    const redisUnauthorized = hub.requests.filter((r) => r.server === 'registry' && r.path.includes('redis') && !r.authorization);
    expect(redisUnauthorized).toHaveLength(0);
    const logText = JSON.stringify(mirror.logs.lines);
    expect(logText).not.toContain('s3cret-pass');
    expect(logText).not.toContain(Buffer.from('alice:s3cret-pass').toString('base64'));
  });

  it('wrong credentials → 401 UNAUTHORIZED from the realm, mapped', async () => {
    const { hub, mirror } = ctx;
    hub.credentials = { username: 'alice', password: 'other' };
    hub.push('library/node', 'latest', image([randomLayer(10)]));
    const res = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect([res.status, errorCode(res)]).toEqual([401, 'UNAUTHORIZED']);
  });

  it('answers a Basic challenge from a registry trusted as its own realm, and keeps Basic credentials from the CDN', async () => {
    const { hub } = ctx;
    // Basic goes to the registry host only when its own origin is a trusted realm.
    const mirror = await startMirror(hub.registryUrl, {
      upstream: { username: 'alice', password: 's3cret-pass', tokenRealmOrigins: [hub.registryUrl], redirectOrigins: [hub.cdnUrl] },
    });
    try {
      hub.authMode = 'basic';
      hub.credentials = { username: 'alice', password: 's3cret-pass' };
      const img = image([randomLayer(5000)]);
      hub.push('library/node', 'latest', img);
      const pulled = await pull(mirror.url, 'library/node', 'latest');
      expect(pulled.digest).toBe(img.manifest.digest);
      expect(hub.count({ server: 'realm' })).toBe(0);
      expect(hub.requests.some((r) => r.server === 'cdn' && r.authorization)).toBe(false);
      // After the first challenge, credentials go up front for this repository: one 401 in all.
      expect(hub.requests.filter((r) => r.server === 'registry' && !r.authorization)).toHaveLength(1);
    } finally {
      await mirror.destroy();
    }
  });

  it('fetches a fresh token when the cached one is refused', async () => {
    const { hub, mirror } = ctx;
    hub.credentials = { username: 'alice', password: 's3cret-pass' };
    hub.push('library/node', 'latest', image([randomLayer(10)]));
    await http(mirror.url, '/v2/library/node/manifests/latest');
    let refused = 0;
    hub.fault = (r) =>
      r.authorization?.startsWith('Bearer ') && refused++ === 0
        ? {
            status: 401,
            headers: { 'www-authenticate': `Bearer realm="${hub.realmUrl}/token",service="fake-hub",scope="repository:library/node:pull"` },
          }
        : undefined;
    const res = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect(res.status).toBe(200);
    expect(hub.count({ server: 'realm' })).toBe(2);
  });
});

describe('untrusted token realms', () => {
  it('refuses a realm on another host with a clear log line, and sends it nothing', async () => {
    const hub = await FakeHub.start();
    const decoy = await FakeHub.start();
    const mirror = await startMirror(hub.registryUrl, {
      upstream: { username: 'alice', password: 'pw', tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl] },
    });
    try {
      hub.realmOverride = `${decoy.realmUrl}/token`;
      hub.push('library/node', 'latest', image([randomLayer(10)]));
      const res = await http(mirror.url, '/v2/library/node/manifests/latest');
      expect([res.status, errorCode(res)]).toEqual([503, 'UNAVAILABLE']);
      expect(decoy.requests).toHaveLength(0);
      expect(mirror.logs.find((l) => String(l.msg).startsWith('refusing upstream token realm'))).toBeDefined();
    } finally {
      await mirror.destroy();
      await hub.close();
      await decoy.close();
    }
  });

  it('trusts only https://auth.docker.io by default for Docker Hub', async () => {
    const { realmTrust } = await import('../../src/upstream/realm-trust.js');
    const hub = realmTrust(new URL('https://registry-1.docker.io'), undefined);
    expect(hub.describe).toEqual(['https://auth.docker.io']);
    expect([hub.allows(new URL('https://auth.docker.io/token')), hub.allows(new URL('https://registry-1.docker.io/token'))]).toEqual([true, false]);
    expect(hub.basicToRegistry).toBe(false);
    const local = realmTrust(new URL('http://127.0.0.1:5001'), undefined);
    expect(local.describe).toEqual(['http://127.0.0.1:5001']);
    expect([local.allows(new URL('http://127.0.0.1:5001/t')), local.allows(new URL('http://127.0.0.1:5002/t'))]).toEqual([true, false]);
  });
});
