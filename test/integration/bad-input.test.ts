import { describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { errorCode, http } from '../support/http.js';
import { rawRequest } from '../support/raw-http.js';
import { waitFor } from '../support/wait.js';

const ctx = useHubAndMirror();
const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('bad input gets the OCI error JSON with the right code, never a 500', () => {
  const cases: Array<[string, string, string, number, string]> = [
    ['uppercase name', 'GET', '/v2/Library/node/manifests/latest', 400, 'NAME_INVALID'],
    ['dot-dot segment', 'GET', '/v2/library/../etc/manifests/latest', 400, 'NAME_INVALID'],
    ['dot-dot in a blob name', 'GET', `/v2/../../../../etc/blobs/${DIGEST}`, 400, 'NAME_INVALID'],
    ['empty segment', 'GET', '/v2/library//node/manifests/latest', 400, 'NAME_INVALID'],
    ['encoded slash', 'GET', '/v2/library%2fnode/manifests/latest', 400, 'NAME_INVALID'],
    ['name over 255 chars', 'GET', `/v2/${'a'.repeat(256)}/manifests/latest`, 400, 'NAME_INVALID'],
    ['leading separator', 'GET', '/v2/-node/manifests/latest', 400, 'NAME_INVALID'],
    ['unknown digest algorithm', 'GET', `/v2/library/node/blobs/md5:${'a'.repeat(32)}`, 400, 'DIGEST_INVALID'],
    ['digest too short', 'GET', '/v2/library/node/blobs/sha256:abc', 400, 'DIGEST_INVALID'],
    ['digest not hex', 'GET', `/v2/library/node/blobs/sha256:${'g'.repeat(64)}`, 400, 'DIGEST_INVALID'],
    ['uppercase hex', 'GET', `/v2/library/node/blobs/sha256:${'A'.repeat(64)}`, 400, 'DIGEST_INVALID'],
    ['digest path traversal', 'GET', '/v2/library/node/blobs/sha256:..%2f..%2fetc', 400, 'DIGEST_INVALID'],
    ['blob reference that is a tag', 'GET', '/v2/library/node/blobs/latest', 400, 'DIGEST_INVALID'],
    // A reference that is neither a tag nor a digest names no manifest: 404, as distribution answers (never a push-time 400).
    ['manifest digest invalid', 'GET', '/v2/library/node/manifests/sha256:zz', 404, 'MANIFEST_UNKNOWN'],
    ['manifest digest of an unknown algorithm', 'GET', `/v2/library/node/manifests/md5:${'a'.repeat(32)}`, 404, 'MANIFEST_UNKNOWN'],
    ['manifest digest in uppercase hex', 'GET', `/v2/library/node/manifests/sha256:${'A'.repeat(64)}`, 404, 'MANIFEST_UNKNOWN'],
    ['tag too long', 'GET', `/v2/library/node/manifests/${'t'.repeat(129)}`, 404, 'MANIFEST_UNKNOWN'],
    ['tag starting with a dot', 'GET', '/v2/library/node/manifests/.hidden', 404, 'MANIFEST_UNKNOWN'],
    ["the conformance suite's nonexistent manifest", 'GET', '/v2/library/node/manifests/.INVALID_MANIFEST_NAME', 404, 'MANIFEST_UNKNOWN'],
    ['tag with bad characters', 'GET', '/v2/library/node/manifests/a%20b', 404, 'MANIFEST_UNKNOWN'],
    ['bad name and bad reference: the name is checked first', 'GET', '/v2/Bad/manifests/.hidden', 400, 'NAME_INVALID'],
    ['unknown path', 'GET', '/v2/library/node/unknown', 404, 'UNSUPPORTED'],
    ['outside /v2', 'GET', '/etc/passwd', 404, 'UNSUPPORTED'],
    ['push a manifest', 'PUT', '/v2/library/node/manifests/latest', 405, 'UNSUPPORTED'],
    ['delete a manifest', 'DELETE', `/v2/library/node/manifests/${DIGEST}`, 405, 'UNSUPPORTED'],
    ['delete a blob', 'DELETE', `/v2/library/node/blobs/${DIGEST}`, 405, 'UNSUPPORTED'],
    ['start an upload', 'POST', '/v2/library/node/blobs/uploads/', 405, 'UNSUPPORTED'],
    ['patch an upload', 'PATCH', '/v2/library/node/blobs/uploads/abc', 405, 'UNSUPPORTED'],
    ['get an upload', 'GET', '/v2/library/node/blobs/uploads/abc', 405, 'UNSUPPORTED'],
    ['bad n', 'GET', '/v2/library/node/tags/list?n=-1', 400, 'PAGINATION_NUMBER_INVALID'],
    ['bad catalog n', 'GET', '/v2/_catalog?n=lots', 400, 'PAGINATION_NUMBER_INVALID'],
    ['namespace with no upstream', 'GET', '/v2/library/node/manifests/latest?ns=ghcr.io', 404, 'NAME_UNKNOWN'],
  ];
  for (const [what, method, path, status, code] of cases) {
    it(`${what}: ${method} ${path.slice(0, 60)} → ${status} ${code}`, async () => {
      const res = await http(ctx.mirror.url, path, { method: method as 'GET' });
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(errorCode(res)).toBe(code);
      expect(res.json().errors[0].message).toEqual(expect.any(String));
      // Invalid input never reaches the upstream.
      expect(ctx.hub.count({ server: 'registry' })).toBe(0);
    });
  }

  it('HEAD of a reference that is neither a tag nor a digest: 404 with no body, the upstream not asked', async () => {
    for (const reference of ['.INVALID_MANIFEST_NAME', 'sha256:zz']) {
      const res = await http(ctx.mirror.url, `/v2/library/node/manifests/${reference}`, { method: 'HEAD' });
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body.length).toBe(0);
    }
    expect(ctx.hub.count({ server: 'registry' })).toBe(0);
  });

  it('HEAD errors carry the status and no body', async () => {
    const res = await http(ctx.mirror.url, '/v2/Bad/manifests/latest', { method: 'HEAD' });
    expect(res.status).toBe(400);
    expect(res.body.length).toBe(0);
  });

  describe('Range', () => {
    const layer = randomLayer(10_000);
    const path = () => `/v2/library/node/blobs/${layer.digest}`;
    const setup = async () => {
      ctx.hub.push('library/node', 'latest', image([layer]));
      expect((await http(ctx.mirror.url, path())).status).toBe(200);
    };
    const bad: Array<[string, string]> = [
      ['multi-range, none satisfiable', `bytes=${layer.size}-,${layer.size + 10}-`],
      ['not bytes', 'items=0-1'],
      ['garbage', 'bytes=abc'],
      ['end before start', 'bytes=10-5'],
      ['empty', 'bytes=-'],
      ['unsatisfiable start', `bytes=${layer.size}-`],
      ['zero suffix', 'bytes=-0'],
      ['huge numbers', 'bytes=99999999999999999999-'],
    ];
    for (const [what, range] of bad) {
      it(`${what} (${range}) → 416 RANGE_INVALID`, async () => {
        await setup();
        const res = await http(ctx.mirror.url, path(), { headers: { range } });
        expect(res.status).toBe(416);
        expect(errorCode(res)).toBe('RANGE_INVALID');
      });
    }

    // No multipart/byteranges: a satisfiable multi-range gets the whole blob, as a server ignoring Range may answer.
    const expectWhole = (res: Awaited<ReturnType<typeof http>>, blob: { bytes: Buffer; size: number }) => {
      expect(res.status).toBe(200);
      expect(res.headers['content-range']).toBeUndefined();
      expect(res.headers['content-length']).toBe(String(blob.size));
      expect(res.body.equals(blob.bytes)).toBe(true);
    };

    it('a satisfiable multi-range on a cached blob → 200 with the whole blob, GET and HEAD', async () => {
      await setup();
      for (const range of ['bytes=0-1,5-6', 'bytes=0-1, 20000-', 'bytes=-5,0-0']) {
        expectWhole(await http(ctx.mirror.url, path(), { headers: { range } }), layer);
        const head = await http(ctx.mirror.url, path(), { method: 'HEAD', headers: { range } });
        expect(head.status).toBe(200);
        expect(head.headers['content-length']).toBe(String(layer.size));
        expect(head.headers['content-range']).toBeUndefined();
      }
      expect(ctx.hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    });

    it('a satisfiable multi-range on an uncached blob → 200 whole, from the fill that starts', async () => {
      const other = randomLayer(5000);
      ctx.hub.push('library/node', 'two', image([other]));
      expectWhole(await http(ctx.mirror.url, `/v2/library/node/blobs/${other.digest}`, { headers: { range: 'bytes=0-1,5-6' } }), other);
      // Without a Content-Length upstream, the size is known only at the end of the fill.
      const chunked = randomLayer(5000);
      ctx.hub.push('library/node', 'three', image([chunked]));
      ctx.hub.blobBehaviour.set(chunked.digest, { noLength: true });
      expectWhole(await http(ctx.mirror.url, `/v2/library/node/blobs/${chunked.digest}`, { headers: { range: 'bytes=0-1,5-6' } }), chunked);
      expect(ctx.hub.count({ server: 'cdn', method: 'GET' })).toBe(2);
    });

    it('a satisfiable multi-range joining a fill in progress → 200 whole', async () => {
      const other = randomLayer(200_000);
      ctx.hub.push('library/node', 'two', image([other]));
      let release!: () => void;
      ctx.hub.blobBehaviour.set(other.digest, { pauseAfter: 50_000, release: new Promise<void>((r) => (release = r)) });
      const blobPath = `/v2/library/node/blobs/${other.digest}`;
      const first = http(ctx.mirror.url, blobPath);
      await waitFor(() => ctx.mirror.inspect().fills === 1);
      const joined = http(ctx.mirror.url, blobPath, { headers: { range: 'bytes=0-1,5-6' } });
      await waitFor(() => ctx.mirror.inspect().readers === 2);
      release();
      expectWhole(await joined, other);
      expectWhole(await first, other);
      expect(ctx.hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    });

    it('single ranges → 206 with Content-Range, on a cached blob and on a fill', async () => {
      await setup();
      const checks: Array<[string, number, number]> = [
        ['bytes=0-99', 0, 99],
        ['bytes=9990-', 9990, layer.size - 1],
        ['bytes=-10', layer.size - 10, layer.size - 1],
        ['bytes=100-99999', 100, layer.size - 1],
      ];
      for (const [range, start, end] of checks) {
        const res = await http(ctx.mirror.url, path(), { headers: { range } });
        expect(res.status).toBe(206);
        expect(res.headers['content-range']).toBe(`bytes ${start}-${end}/${layer.size}`);
        expect(res.headers['content-length']).toBe(String(end - start + 1));
        expect(res.body.equals(layer.bytes.subarray(start, end + 1))).toBe(true);
      }
      const unsatisfiable = await http(ctx.mirror.url, path(), { headers: { range: 'bytes=20000-' } });
      expect(unsatisfiable.headers['content-range']).toBe(`bytes */${layer.size}`);
      // A range on an uncached blob is served from the fill.
      const other = randomLayer(5000);
      ctx.hub.push('library/node', 'two', image([other]));
      const res = await http(ctx.mirror.url, `/v2/library/node/blobs/${other.digest}`, { headers: { range: 'bytes=1000-1999' } });
      expect(res.status).toBe(206);
      expect(res.body.equals(other.bytes.subarray(1000, 2000))).toBe(true);
    });
  });
});

describe('requests the HTTP parser refuses', () => {
  it('garbage gets 400 with an OCI error body', async () => {
    const reply = await rawRequest(ctx.mirror.url, 'THIS IS NOT HTTP\r\n\r\n');
    expect(reply.status).toBe(400);
    expect(JSON.parse(reply.body).errors[0].code).toBe('UNSUPPORTED');
  });

  it('oversized headers get 431 with an OCI error body', async () => {
    const reply = await rawRequest(ctx.mirror.url, `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(reply.status).toBe(431);
    expect(reply.text).toContain('"code":"UNSUPPORTED"');
  });
});

describe('requests the HTTP parser accepts but that name no URL', () => {
  // Each names no resource the router can read: the adapter (or Node, for a missing Host) used to answer 400 with no body.
  const cases: Array<[string, string]> = [
    ['asterisk-form target', 'GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['no Host on HTTP/1.1', 'GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n'],
    ['a space in Host', 'GET /v2/ HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n'],
    ['a backslash in the path', 'GET /v2/library\\node/manifests/latest HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['a broken IPv6 Host', 'GET /v2/ HTTP/1.1\r\nHost: [::1\r\nConnection: close\r\n\r\n'],
  ];
  for (const [what, request] of cases) {
    it(`${what} gets 400 with the OCI error JSON`, async () => {
      const reply = await rawRequest(ctx.mirror.url, request);
      expect(reply.status).toBe(400);
      expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(reply.headers['docker-distribution-api-version']).toBe('registry/2.0');
      const body = JSON.parse(reply.body) as { errors: Array<{ code: string; message: string }> };
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0]?.code).toBe('UNSUPPORTED');
      expect(body.errors[0]?.message).toMatch(/^malformed request: /);
      expect(reply.headers['content-length']).toBe(String(Buffer.byteLength(reply.body)));
      expect(ctx.hub.count({ server: 'registry' })).toBe(0);
    });
  }

  it('a HEAD among them gets the status and headers, no body', async () => {
    const reply = await rawRequest(ctx.mirror.url, 'HEAD /v2/ HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n');
    expect(reply.status).toBe(400);
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(reply.body).toBe('');
  });
});
