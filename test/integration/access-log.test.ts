import { URL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { brokenTransfer, http, type Reply } from '../support/http.js';
import { waitFor } from '../support/wait.js';

const ctx = useHubAndMirror();
const UA = 'cargohold-test/1.0 (access log)';

/** The access log line of a response, found by the X-Request-Id it was sent with (every response has one). */
async function lineOf(reply: Reply): Promise<Record<string, unknown>> {
  const id = reply.headers['x-request-id'];
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  let line: Record<string, unknown> | undefined;
  await waitFor(() => (line = ctx.mirror.logs.requests().find((l) => l.reqId === id)) !== undefined, 5000, `the access log line of ${id}`);
  return line as Record<string, unknown>;
}

describe('the access log', () => {
  it('names the client, its user agent and the request id, the body bytes really sent (JSON too) and the cache outcome; levels are names', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(50_000);
    const img = image([layer]);
    hub.push('library/node', 'latest', img);
    const get = (path: string) => http(mirror.url, path, { headers: { 'user-agent': UA } });

    const base = await get('/v2/');
    expect(await lineOf(base)).toMatchObject({ level: 'info', method: 'GET', path: '/v2/', status: 200, bytes: 2, remote: '127.0.0.1', ua: UA });
    const tags = await get('/v2/library/node/tags/list');
    expect(await lineOf(tags)).toMatchObject({ status: 200, bytes: tags.body.length });
    expect(tags.body.length).toBeGreaterThan(2);
    const catalog = await get('/v2/_catalog');
    expect(await lineOf(catalog)).toMatchObject({ status: 200, bytes: catalog.body.length });
    const manifest = await get('/v2/library/node/manifests/latest');
    expect(await lineOf(manifest)).toMatchObject({ status: 200, bytes: img.manifest.bytes.length, cache: 'miss', ua: UA });
    const blob = await get(`/v2/library/node/blobs/${layer.digest}`); // written straight to the socket
    expect(await lineOf(blob)).toMatchObject({ status: 200, bytes: layer.bytes.length, cache: 'miss', remote: '127.0.0.1' });
    await mirror.idle();
    const hit = await get(`/v2/library/node/blobs/${layer.digest}`);
    expect(await lineOf(hit)).toMatchObject({ status: 200, bytes: layer.bytes.length, cache: 'hit' });
    const head = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(await lineOf(head)).toMatchObject({ method: 'HEAD', status: 200, bytes: 0, cache: 'hit' });
    for (const line of mirror.logs.requests()) expect(line).not.toHaveProperty('error');
    expect(new Set(mirror.logs.lines.map((l) => l.level))).toEqual(new Set(['info', 'debug']));
  });

  it('an error response carries X-Request-Id, and its line says why: the OCI code, and the upstream status behind it', async () => {
    const { mirror } = ctx;
    const unknown = await http(mirror.url, '/v2/library/node/manifests/nope');
    expect(unknown.status).toBe(404);
    expect((await lineOf(unknown)).error).toEqual({
      code: 'MANIFEST_UNKNOWN',
      message: 'upstream: manifest not found',
      upstream: 'status',
      upstreamStatus: 404,
    });
    const head = await http(mirror.url, '/v2/library/node/manifests/nope', { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(await lineOf(head)).toMatchObject({ method: 'HEAD', status: 404, bytes: 0, error: { code: 'MANIFEST_UNKNOWN', upstreamStatus: 404 } });
    const invalid = await http(mirror.url, '/v2/library/node/blobs/sha256:abc');
    expect(await lineOf(invalid)).toMatchObject({ status: 400, bytes: invalid.body.length, error: { code: 'DIGEST_INVALID' } });
    const endpoint = await http(mirror.url, '/nowhere');
    expect((await lineOf(endpoint)).error).toEqual({ code: 'UNSUPPORTED', message: 'unknown API endpoint' });
    const push = await http(mirror.url, '/v2/library/node/blobs/uploads/', { method: 'POST' });
    expect(await lineOf(push)).toMatchObject({ status: 405, error: { code: 'UNSUPPORTED' } });
  });

  it('an upstream that cannot be reached: the line names the network error and the host', async () => {
    const { hub, mirror } = ctx;
    await hub.stopRegistry();
    const res = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect(res.status).toBe(503);
    expect((await lineOf(res)).error).toEqual({
      code: 'UNAVAILABLE',
      message: 'upstream unreachable (manifest): ECONNREFUSED',
      upstream: 'unreachable',
      upstreamHost: new URL(hub.registryUrl).host,
      cause: 'ECONNREFUSED',
    });
    expect(res.json()).toEqual({
      errors: [{ code: 'UNAVAILABLE', message: 'upstream unreachable (manifest): ECONNREFUSED', detail: { upstream: 'unreachable' } }],
    });
  });

  it('a blob transfer the upstream breaks off: bytes null, and the reason it broke off', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(2 * 1024 * 1024);
    hub.push('library/node', 'latest', image([layer]));
    hub.blobBehaviour.set(layer.digest, { resetAfter: 700_000 }); // and at once on the resume
    const res = await brokenTransfer(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, res.ended]).toEqual([200, 'UND_ERR_SOCKET']);
    await waitFor(() => mirror.logs.requests().some((l) => l.path === `/v2/library/node/blobs/${layer.digest}`));
    const line = mirror.logs.requests().find((l) => l.path === `/v2/library/node/blobs/${layer.digest}`);
    expect(line).toMatchObject({
      status: 200,
      bytes: null,
      cache: 'miss',
      error: { code: 'UNAVAILABLE', message: 'blob transfer failed: other side closed', upstream: 'unreachable', cause: 'UND_ERR_SOCKET' },
    });
  });
});
