import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors/upstream-error.js';
import { Egress } from '../../src/upstream/egress.js';
import { TokenAuth } from '../../src/upstream/token-auth.js';
import { realmTrust } from '../../src/upstream/realm-trust.js';
import { image, randomLayer } from '../fixtures/images.js';
import { CountingServer } from '../support/counting-server.js';
import { FakeHub } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { LogCapture, startMirror, type Mirror } from '../support/mirror.js';

/**
 * Redirects and token realms name hosts the upstream chooses. The mirror must not become
 * a way into the network it runs in: an upstream pointing it at another port of its own
 * host (standing in for an internal service) gets a 502 and that port not one connection.
 */
let hub: FakeHub;
let internal: CountingServer;
let mirror: Mirror | undefined;

/** Serves the hub's blobs under /blobs/<digest> (a CDN when trusted), the secret for anything else. */
function blobsOrSecret(req: IncomingMessage, res: ServerResponse): void {
  const bytes = hub.blobs.get(/^\/blobs\/([^?]+)/.exec(req.url ?? '')?.[1] ?? '');
  if (!bytes) return void res.writeHead(200, { 'content-length': String(CountingServer.SECRET.length) }).end(CountingServer.SECRET);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) });
  res.end(bytes);
}

beforeEach(async () => {
  hub = await FakeHub.start();
  internal = await new CountingServer(blobsOrSecret).start();
});

afterEach(async () => {
  await mirror?.destroy();
  mirror = undefined;
  await internal.close();
  await hub.close();
});

async function start(redirectOrigins: string[] = [hub.cdnUrl]): Promise<Mirror> {
  mirror = await startMirror(hub.registryUrl, { upstream: { tokenRealmOrigins: [hub.realmUrl], redirectOrigins } });
  return mirror;
}

function pushed(): { repo: string; digest: string } {
  const img = image([randomLayer(300 * 1024)]);
  hub.push('library/node', 'latest', img);
  return { repo: 'library/node', digest: img.blobs.at(-1)?.digest as string };
}

function refusalLogged(m: Mirror, target: string): boolean {
  return m.logs.lines.some(
    (l) => l.level === 'warn' && String(l.msg).startsWith('refusing upstream redirect target') && String(l.target).startsWith(target),
  );
}

describe('redirect targets', () => {
  it('refuses a blob redirected to another port of the host: 502, no connection there, a warning naming it', async () => {
    const m = await start();
    const { repo, digest } = pushed();
    hub.blobLocation = () => `${internal.url}/admin/secret?x=1`;
    const res = await http(m.url, `/v2/${repo}/blobs/${digest}`);
    expect([res.status, errorCode(res)]).toEqual([502, 'UNAVAILABLE']);
    const error = res.json<{ errors: Array<{ message: string; detail: unknown }> }>().errors[0];
    expect(error?.message).toBe('upstream redirect target refused: not a public address');
    expect(error?.detail).toEqual({ upstream: 'refused' });
    expect(res.body.toString()).not.toContain(CountingServer.SECRET);
    expect(internal.connections).toBe(0);
    expect(refusalLogged(m, `${internal.url}/admin/secret`)).toBe(true);
    // The 401, then the 307 that was refused: nothing else went upstream.
    expect(hub.count({ server: 'registry', method: 'GET', path: new RegExp(`/blobs/${digest}$`) })).toBe(2);
    expect(hub.count({ server: 'cdn' })).toBe(0);
  });

  it('follows the same redirect when its origin is listed in upstream.redirectOrigins', async () => {
    const m = await start([hub.cdnUrl, internal.url]);
    const { repo, digest } = pushed();
    hub.blobLocation = (d) => `${internal.url}/blobs/${d}`;
    const res = await http(m.url, `/v2/${repo}/blobs/${digest}`);
    expect(res.status).toBe(200);
    expect(res.sha256()).toBe(digest);
    expect(internal.requests).toEqual([`GET /blobs/${digest}`]);
    expect(internal.connections).toBe(1);
  });

  it('refuses a hostname that resolves to loopback (localhost), with no connection', async () => {
    const m = await start();
    const { repo, digest } = pushed();
    hub.blobLocation = () => `http://localhost:${internal.port}/secret`;
    const res = await http(m.url, `/v2/${repo}/blobs/${digest}`);
    expect([res.status, errorCode(res)]).toEqual([502, 'UNAVAILABLE']);
    expect(res.body.toString()).not.toContain(CountingServer.SECRET);
    expect(internal.connections).toBe(0);
    expect(refusalLogged(m, `http://localhost:${internal.port}/secret`)).toBe(true);
  });

  it('refuses a redirected manifest the same way', async () => {
    const m = await start();
    hub.fault = (r) => (r.path.includes('/manifests/') ? { status: 307, headers: { location: `${internal.url}/manifest` } } : undefined);
    const res = await http(m.url, '/v2/library/node/manifests/latest');
    expect([res.status, errorCode(res)]).toEqual([502, 'UNAVAILABLE']);
    expect(res.body.toString()).not.toContain(CountingServer.SECRET);
    expect(internal.connections).toBe(0);
    expect(hub.count({ server: 'registry', path: '/v2/library/node/manifests/latest' })).toBe(1);
  });

  it('checks every hop: a trusted CDN redirecting onwards to an internal port is refused there', async () => {
    const edge = await new CountingServer((_req, res) => void res.writeHead(307, { location: `${internal.url}/blobs/x` }).end()).start();
    try {
      const m = await start([hub.cdnUrl, edge.url]);
      const { repo, digest } = pushed();
      hub.blobLocation = (d) => `${edge.url}/blobs/${d}`;
      const res = await http(m.url, `/v2/${repo}/blobs/${digest}`);
      expect([res.status, errorCode(res)]).toEqual([502, 'UNAVAILABLE']);
      expect(edge.requests).toEqual([`GET /blobs/${digest}`]);
      expect(internal.connections).toBe(0);
      expect(refusalLogged(m, `${internal.url}/blobs/x`)).toBe(true);
    } finally {
      await edge.close();
    }
  });

  it('gives up after five redirects', async () => {
    const loop = await new CountingServer((req, res) => void res.writeHead(307, { location: `${req.url ?? '/'}x` }).end()).start();
    try {
      const m = await start([hub.cdnUrl, loop.url]);
      const { repo, digest } = pushed();
      hub.blobLocation = () => `${loop.url}/hop`;
      const res = await http(m.url, `/v2/${repo}/blobs/${digest}`);
      expect([res.status, errorCode(res)]).toEqual([502, 'UNAVAILABLE']);
      expect(res.json<{ errors: Array<{ message: string }> }>().errors[0]?.message).toBe('upstream redirected too many times');
      expect(loop.requests).toEqual(['GET /hop', 'GET /hopx', 'GET /hopxx', 'GET /hopxxx', 'GET /hopxxxx']);
    } finally {
      await loop.close();
    }
  });
});

describe('token realms trusted only by default', () => {
  function auth(trusted: string[], logs: LogCapture): { auth: TokenAuth; egress: Egress } {
    const upstreamUrl = new URL('http://registry.invalid:5000');
    const egress = new Egress({ connectTimeoutMs: 1000, headersTimeoutMs: 1000, bodyTimeoutMs: 1000 });
    const trust = new Set([upstreamUrl.origin, ...trusted]);
    const tokenAuth = new TokenAuth({
      dispatcherFor: (url) => egress.realmDispatcher(upstreamUrl, url, trust),
      upstreamUrl,
      realms: realmTrust(upstreamUrl, [internal.url, `http://localhost:${internal.port}`]),
      credentials: { username: 'alice', password: 'pw' },
      logger: pino({ level: 'debug' }, logs),
    });
    return { auth: tokenAuth, egress };
  }
  const token = (req: IncomingMessage, res: ServerResponse) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"token":"t0k"}');

  for (const realm of ['literal', 'localhost'] as const) {
    it(`must be public hosts unless configured: an internal realm (${realm}) gets no connection`, async () => {
      const logs = new LogCapture();
      const { auth: tokenAuth, egress } = auth([], logs);
      const origin = realm === 'literal' ? internal.url : `http://localhost:${internal.port}`;
      try {
        const failure = await tokenAuth.answer(`Bearer realm="${origin}/token",service="s"`, 'repository:a:pull', undefined).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(UpstreamError);
        expect([(failure as UpstreamError).status, (failure as UpstreamError).message]).toEqual([
          502,
          'upstream token realm refused: not a public address',
        ]);
        expect(internal.connections).toBe(0);
        expect(logs.find((l) => l.level === 40 && String(l.msg).startsWith('refusing upstream token realm: not a public address'))).toBeDefined();
      } finally {
        await egress.close();
      }
    });
  }

  it('are contacted when configured (or the upstream itself)', async () => {
    const realmServer = await new CountingServer(token).start();
    const logs = new LogCapture();
    const upstreamUrl = new URL('http://registry.invalid:5000');
    const egress = new Egress({ connectTimeoutMs: 1000, headersTimeoutMs: 1000, bodyTimeoutMs: 1000 });
    const trust = new Set([upstreamUrl.origin, realmServer.url]);
    const tokenAuth = new TokenAuth({
      dispatcherFor: (url) => egress.realmDispatcher(upstreamUrl, url, trust),
      upstreamUrl,
      realms: realmTrust(upstreamUrl, [realmServer.url]),
      credentials: undefined,
      logger: pino({ level: 'debug' }, logs),
    });
    try {
      expect(await tokenAuth.answer(`Bearer realm="${realmServer.url}/token"`, 'repository:a:pull', undefined)).toBe('Bearer t0k');
      expect(realmServer.requests).toEqual(['GET /token?scope=repository%3Aa%3Apull']);
    } finally {
      await egress.close();
      await realmServer.close();
    }
  });
});
