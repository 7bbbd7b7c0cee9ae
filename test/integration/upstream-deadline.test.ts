import { describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import type { FaultReply, HubRequest } from '../support/fake-hub.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { errorCode, http } from '../support/http.js';
import { waitFor } from '../support/wait.js';

// Every upstream call has 0.5 s in all; the idle timeouts (headers 2 s, body 5 s in tests) never fire on a drip every 100 ms.
const ctx = useHubAndMirror(() => ({ upstream: { requestDeadlineMs: 500, headersTimeoutMs: 5000 } }));

const DEADLINE = /^upstream did not answer the (manifest|tag list|blob|token request) within its deadline \(500 ms\)$/;

/** The real answer to a request, sent a byte every 100 ms after its headers. */
function dripping(status: number, headers: Record<string, string>, body: Buffer | string): FaultReply {
  return { status, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, body: body.toString(), dripEveryMs: 100 };
}

const manifestGet = (repository: string, tag: string) => (r: HubRequest) =>
  r.method === 'GET' && r.authorization !== undefined && r.path === `/v2/${repository}/manifests/${tag}`;

describe('an upstream that drips its answer meets a total deadline', () => {
  it('an uncached manifest by tag: 504 with the reason, as OCI error JSON', async () => {
    const { hub, mirror } = ctx;
    const img = image([randomLayer(10)]);
    hub.push('library/node', 'latest', img);
    const isGet = manifestGet('library/node', 'latest');
    hub.fault = (r) =>
      isGet(r)
        ? dripping(200, { 'content-type': img.manifest.mediaType, 'docker-content-digest': img.manifest.digest }, img.manifest.bytes)
        : undefined;
    const res = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect([res.status, errorCode(res)]).toEqual([504, 'UNAVAILABLE']);
    expect(res.json().errors[0].message).toMatch(DEADLINE);
    expect(res.json().errors[0].detail).toEqual({ upstream: 'timeout' });
    expect(hub.count({ server: 'registry', method: 'GET', path: '/v2/library/node/manifests/latest' })).toBe(2); // 401, then the drip
    await waitFor(() => hub.dripping === 0); // the dripping transfer was given up on, not left open
  });

  it('a cached tag whose manifest moved: served stale, logged, X-Cargohold-Cache stale', async () => {
    const { hub, mirror } = ctx;
    const old = image([randomLayer(10)]);
    hub.push('library/node', 'latest', old);
    expect((await http(mirror.url, '/v2/library/node/manifests/latest')).status).toBe(200);
    const moved = image([randomLayer(10)]);
    hub.push('library/node', 'latest', moved); // the HEAD (tag TTL 0 in tests) sees the new digest; its GET drips
    const isGet = manifestGet('library/node', 'latest');
    hub.fault = (r) => (isGet(r) ? dripping(200, { 'content-type': moved.manifest.mediaType }, moved.manifest.bytes) : undefined);
    const res = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect([res.status, res.headers['docker-content-digest'], res.headers['x-cargohold-cache']]).toEqual([200, old.manifest.digest, 'stale']);
    const logged = mirror.logs.find((l) => l.msg === 'upstream failed; serving cached tag stale');
    expect(logged?.err).toMatch(DEADLINE);
    await waitFor(() => mirror.logs.requests().at(-1)?.cache === 'stale');
  });

  it('a token realm that drips its token: 504, and the token fetch is given up on too', async () => {
    const { hub, mirror } = ctx;
    hub.push('library/node', 'latest', image([randomLayer(10)]));
    hub.realmFault = () => dripping(200, { 'content-type': 'application/json' }, JSON.stringify({ token: 'x'.repeat(500) }));
    const res = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect([res.status, errorCode(res)]).toEqual([504, 'UNAVAILABLE']);
    expect(res.json().errors[0].message).toMatch(DEADLINE);
    expect(hub.count({ server: 'realm' })).toBe(1);
    // The shared token fetch has its own deadline: it lets go, and the next request fetches a token afresh.
    await waitFor(() => hub.dripping === 0);
    hub.realmFault = undefined;
    expect((await http(mirror.url, '/v2/library/node/manifests/latest')).status).toBe(200);
    expect(hub.count({ server: 'realm' })).toBe(2);
  });

  it('a tag list: 504 when nothing is cached', async () => {
    const { hub, mirror } = ctx;
    hub.push('library/node', 'latest', image([randomLayer(10)]));
    hub.fault = (r) =>
      r.authorization !== undefined && r.path.startsWith('/v2/library/node/tags/list')
        ? dripping(200, { 'content-type': 'application/json' }, JSON.stringify({ name: 'library/node', tags: ['latest'] }))
        : undefined;
    const res = await http(mirror.url, '/v2/library/node/tags/list');
    expect([res.status, errorCode(res)]).toEqual([504, 'UNAVAILABLE']);
    expect(res.json().errors[0].message).toMatch(DEADLINE);
  });

  it('a blob whose upstream headers are not in by the deadline: 504 before anything is sent, nothing left filling', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(1000);
    hub.push('library/node', 'latest', image([layer]));
    hub.fault = (r) => (r.authorization !== undefined && r.path === `/v2/library/node/blobs/${layer.digest}` ? 'hang' : undefined);
    const res = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, errorCode(res)]).toEqual([504, 'UNAVAILABLE']);
    expect(res.json().errors[0].message).toMatch(DEADLINE);
    expect(mirror.inspect().fills).toBe(0);
  });
});
