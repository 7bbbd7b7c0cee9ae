import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { image, randomLayer, type Image } from '../fixtures/images.js';
import { CountingServer } from '../support/counting-server.js';
import { FakeHub, type HubRequest } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';

/**
 * Challenges are per repository: one repository's answer decides nothing for another,
 * and the upstream's credentials go only where a challenge for that scope sent them.
 */
const USER = 'alice';
const PASSWORD = 'pa55-Wh0le-S3cret';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

let hub: FakeHub;
let mirror: Mirror | undefined;

beforeEach(async () => {
  hub = await FakeHub.start();
  hub.credentials = { username: USER, password: PASSWORD };
});

afterEach(async () => {
  await mirror?.destroy();
  mirror = undefined;
  await hub.close();
});

async function start(tokenRealmOrigins: string[]): Promise<Mirror> {
  mirror = await startMirror(hub.registryUrl, { upstream: { username: USER, password: PASSWORD, tokenRealmOrigins, redirectOrigins: [hub.cdnUrl] } });
  return mirror;
}

const registry = (repository: string): HubRequest[] => hub.requests.filter((r) => r.server === 'registry' && r.path.startsWith(`/v2/${repository}/`));

describe('one repository’s challenge does not decide another’s', () => {
  it('a 401 naming an untrusted realm for repository A fails A only; B pulls, with exact upstream requests', async () => {
    const decoy = await new CountingServer().start();
    try {
      const m = await start([hub.realmUrl]);
      hub.realmOverrides.set('library/a', `${decoy.url}/token`);
      hub.push('library/a', 'latest', image([randomLayer(1000)]));
      const b: Image = image([randomLayer(1000)]);
      hub.push('library/b', 'latest', b);

      const a1 = await http(m.url, '/v2/library/a/manifests/latest');
      expect([a1.status, errorCode(a1)]).toEqual([503, 'UNAVAILABLE']);
      expect(a1.json<{ errors: Array<{ message: string }> }>().errors[0]?.message).toBe('upstream token realm is not trusted');
      expect(registry('library/a')).toHaveLength(1);

      const manifest = await http(m.url, '/v2/library/b/manifests/latest');
      expect(manifest.status).toBe(200);
      // B learns its own challenge: one 401, one token, one GET with it.
      expect(registry('library/b').map((r) => [r.method, r.authorization?.split(' ')[0]])).toEqual([
        ['GET', undefined],
        ['GET', 'Bearer'],
      ]);
      expect(hub.count({ server: 'realm' })).toBe(1);
      const layer = b.blobs.at(-1)?.digest as string;
      const blob = await http(m.url, `/v2/library/b/blobs/${layer}`);
      expect([blob.status, blob.sha256()]).toEqual([200, layer]);
      expect(registry('library/b')).toHaveLength(3);
      expect(hub.count({ server: 'cdn' })).toBe(1);
      expect(hub.count({ server: 'realm' })).toBe(1);

      // A's bad answer was not remembered: A now asks with a token from the trusted realm
      // (where B's challenge showed the credentials belong), which this upstream accepts.
      const a2 = await http(m.url, '/v2/library/a/manifests/latest');
      expect(a2.status).toBe(200);
      expect(registry('library/a').map((r) => r.authorization?.split(' ')[0])).toEqual([undefined, 'Bearer']);
      expect(hub.count({ server: 'realm' })).toBe(2);
      expect(decoy.connections).toBe(0);
    } finally {
      await decoy.close();
    }
  });
});

describe('credentials go only where a challenge for that scope asked for them', () => {
  it('Basic: another repository gets no credentials until its own challenge', async () => {
    const m = await start([hub.registryUrl]);
    hub.authMode = 'basic';
    hub.push('library/a', 'latest', image([randomLayer(1000)]));
    hub.push('library/b', 'latest', image([randomLayer(1000)]));
    await pull(m.url, 'library/a', 'latest');
    expect((await http(m.url, '/v2/library/b/manifests/latest')).status).toBe(200);
    expect(registry('library/b').map((r) => r.authorization)).toEqual([undefined, BASIC]);
    // A's own later requests carry its remembered answer up front.
    expect(registry('library/a').filter((r) => r.authorization === undefined)).toHaveLength(1);
  });

  it('Basic is never sent to a registry whose trusted token realm is elsewhere (Docker Hub-like)', async () => {
    const m = await start([hub.realmUrl]);
    hub.authMode = 'basic';
    hub.push('library/a', 'latest', image([randomLayer(1000)]));
    const res = await http(m.url, '/v2/library/a/manifests/latest');
    expect([res.status, errorCode(res)]).toEqual([401, 'UNAUTHORIZED']);
    expect(registry('library/a').map((r) => r.authorization)).toEqual([undefined]);
    expect(hub.count({ server: 'realm' })).toBe(0);
    expect(m.logs.find((l) => l.level === 'warn' && String(l.msg).startsWith('not sending credentials as Basic'))).toBeDefined();
  });

  it('Bearer: the registry sees only tokens, the realm the credentials, the CDN nothing; no log line at any level holds them', async () => {
    const m = await start([hub.realmUrl]);
    hub.push('library/a', 'latest', image([randomLayer(1000)]));
    hub.push('library/b', 'latest', image([randomLayer(1000)]));
    await pull(m.url, 'library/a', 'latest');
    await pull(m.url, 'library/b', 'latest');
    for (const r of hub.requests) {
      if (r.server === 'realm') expect(r.authorization).toBe(BASIC);
      if (r.server === 'registry') expect(r.authorization === undefined || r.authorization.startsWith('Bearer ')).toBe(true);
      if (r.server === 'cdn') expect(r.authorization).toBeUndefined();
    }
    expect(hub.count({ server: 'realm' })).toBe(2);
    expect(hub.count({ server: 'cdn' })).toBe(4);
    // Failures log too: a refused password and a Basic challenge we will not answer.
    hub.credentials = { username: USER, password: 'another' };
    expect((await http(m.url, '/v2/library/c/manifests/latest')).status).toBe(401);
    hub.credentials = { username: USER, password: PASSWORD };
    hub.authMode = 'basic';
    expect((await http(m.url, '/v2/library/d/manifests/latest')).status).toBe(401);
    expect(m.logs.find((l) => String(l.msg).startsWith('not sending credentials as Basic'))).toBeDefined();
    expect(m.logs.lines.some((l) => l.level === 'debug')).toBe(true); // debug lines were captured
    const text = JSON.stringify(m.logs.lines);
    for (const secret of [PASSWORD, BASIC.slice(6), Buffer.from(PASSWORD).toString('base64')]) expect(text).not.toContain(secret);
  });
});
