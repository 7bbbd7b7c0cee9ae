import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { blobPath } from '../support/mirror.js';
import { errorCode, brokenTransfer, http } from '../support/http.js';

const ctx = useHubAndMirror();

describe('upstream answers mapped honestly', () => {
  it('404 → MANIFEST_UNKNOWN / BLOB_UNKNOWN / NAME_UNKNOWN with 404', async () => {
    const { hub, mirror } = ctx;
    hub.push('library/node', 'latest', image([randomLayer(10)]));
    const manifest = await http(mirror.url, '/v2/library/node/manifests/nope');
    expect([manifest.status, errorCode(manifest)]).toEqual([404, 'MANIFEST_UNKNOWN']);
    const blob = await http(mirror.url, `/v2/library/node/blobs/sha256:${'a'.repeat(64)}`);
    expect([blob.status, errorCode(blob)]).toEqual([404, 'BLOB_UNKNOWN']);
    const tags = await http(mirror.url, '/v2/library/nothing/tags/list');
    expect([tags.status, errorCode(tags)]).toEqual([404, 'NAME_UNKNOWN']);
  });

  it('429 → 429 TOOMANYREQUESTS with Retry-After passed on', async () => {
    const { hub, mirror } = ctx;
    hub.fault = (r) => (r.path.includes('/manifests/') ? { status: 429, headers: { 'retry-after': '42' } } : undefined);
    const res = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect([res.status, errorCode(res)]).toEqual([429, 'TOOMANYREQUESTS']);
    expect(res.headers['retry-after']).toBe('42');
  });

  it('401 and 403 → UNAUTHORIZED and DENIED', async () => {
    const { hub, mirror } = ctx;
    hub.fault = (r) => (r.path.endsWith('/a/manifests/x') ? { status: 401 } : r.path.endsWith('/b/manifests/x') ? { status: 403 } : undefined);
    const a = await http(mirror.url, '/v2/library/a/manifests/x');
    expect([a.status, errorCode(a)]).toEqual([401, 'UNAUTHORIZED']);
    const b = await http(mirror.url, '/v2/library/b/manifests/x');
    expect([b.status, errorCode(b)]).toEqual([403, 'DENIED']);
  });

  it('5xx, a hanging upstream and an unreachable one → 503 with an error body, within seconds', async () => {
    const { hub, mirror } = ctx;
    hub.fault = (r) => (r.path.includes('/five/') ? { status: 502 } : r.path.includes('/hang/') ? 'hang' : undefined);
    const five = await http(mirror.url, '/v2/library/five/manifests/latest');
    expect([five.status, errorCode(five)]).toEqual([503, 'UNAVAILABLE']);
    const hang = await http(mirror.url, '/v2/library/hang/manifests/latest'); // headersTimeoutMs is 2 s in tests
    expect([hang.status, errorCode(hang)]).toEqual([503, 'UNAVAILABLE']);
    expect(hang.json().errors[0].message).toMatch(/timed out/);
    await hub.stopRegistry();
    const down = await http(mirror.url, '/v2/library/down/manifests/latest');
    expect([down.status, errorCode(down)]).toEqual([503, 'UNAVAILABLE']);
  });

  it('retries once when the connection is reset before any answer, but not twice', async () => {
    const { hub, mirror } = ctx;
    hub.push('library/node', 'latest', image([randomLayer(10)]));
    let resets = 1;
    hub.fault = (r) => (r.authorization && resets-- > 0 ? 'reset' : undefined);
    expect((await http(mirror.url, '/v2/library/node/manifests/latest')).status).toBe(200);
    expect(hub.count({ server: 'registry', method: 'GET', path: '/v2/library/node/manifests/latest' })).toBe(3); // 401, reset, 200
    hub.push('library/node', 'other', image([randomLayer(10)]));
    hub.fault = (r) => (r.authorization ? 'reset' : undefined);
    const failed = await http(mirror.url, '/v2/library/node/manifests/other');
    expect([failed.status, errorCode(failed)]).toEqual([503, 'UNAVAILABLE']);
  });

  it('serves a cached tag stale on upstream 5xx and 429 too', async () => {
    const { hub, mirror } = ctx;
    const img = image([randomLayer(10)]);
    hub.push('library/node', 'latest', img);
    expect((await http(mirror.url, '/v2/library/node/manifests/latest')).status).toBe(200);
    for (const status of [500, 429]) {
      hub.fault = () => ({ status });
      const res = await http(mirror.url, '/v2/library/node/manifests/latest');
      expect(res.status).toBe(200);
      expect(res.headers['docker-content-digest']).toBe(img.manifest.digest);
    }
  });

  it('forgets a tag the upstream says is gone', async () => {
    const { hub, mirror } = ctx;
    hub.push('library/node', 'old', image([randomLayer(10)]));
    expect((await http(mirror.url, '/v2/library/node/manifests/old')).status).toBe(200);
    hub.repos.get('library/node')?.tags.delete('old');
    const res = await http(mirror.url, '/v2/library/node/manifests/old');
    expect([res.status, errorCode(res)]).toEqual([404, 'MANIFEST_UNKNOWN']);
  });
});

describe('nothing unverified is stored or served', () => {
  it('a blob whose bytes do not match its digest is neither stored nor served whole', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(300_000);
    hub.push('library/node', 'latest', image([layer]));
    hub.blobBehaviour.set(layer.digest, { corrupt: true });
    // The transfer breaks off (the socket is destroyed) before the last byte, which is held back until the digest verifies.
    const res = await brokenTransfer(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, res.ended]).toEqual([200, 'UND_ERR_SOCKET']);
    expect(res.received).toBeLessThan(layer.size);
    await mirror.idle();
    expect(mirror.logs.find((l) => l.msg === 'blob fill failed; nothing stored')?.err).toBe('upstream content does not match its digest');
    expect(existsSync(blobPath(mirror.dataDir, layer.digest))).toBe(false);
    expect(readdirSync(join(mirror.dataDir, 'tmp'))).toEqual([]);
    // The next request starts afresh and succeeds once the upstream is fixed.
    hub.blobBehaviour.delete(layer.digest);
    const again = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect(again.status).toBe(200);
    expect(again.sha256()).toBe(layer.digest);
    await mirror.idle();
    expect(existsSync(blobPath(mirror.dataDir, layer.digest))).toBe(true);
  });

  it('a truncated upstream blob without a length is not stored', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(100_000);
    hub.push('library/node', 'latest', image([layer]));
    hub.blobBehaviour.set(layer.digest, { truncateAt: 50_000 });
    const res = await brokenTransfer(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, res.ended]).toEqual([200, 'UND_ERR_SOCKET']);
    expect(res.received).toBeLessThan(layer.size);
    await mirror.idle();
    expect(existsSync(blobPath(mirror.dataDir, layer.digest))).toBe(false);
  });

  it('a manifest requested by digest must hash to that digest', async () => {
    const { hub, mirror } = ctx;
    const img = image([randomLayer(10)]);
    hub.push('library/node', 'latest', img);
    const other = image([randomLayer(10)]);
    hub.manifests.set(img.manifest.digest, other.manifest); // the upstream lies
    const res = await http(mirror.url, `/v2/library/node/manifests/${img.manifest.digest}`);
    expect([res.status, errorCode(res)]).toEqual([502, 'MANIFEST_INVALID']);
    hub.manifests.set(img.manifest.digest, img.manifest);
    const fixed = await http(mirror.url, `/v2/library/node/manifests/${img.manifest.digest}`);
    expect(fixed.sha256()).toBe(img.manifest.digest);
  });

  it("a tag's digest is computed from the bytes, not taken from the upstream's header", async () => {
    const { hub, mirror } = ctx;
    const img = image([randomLayer(10)]);
    hub.push('library/node', 'latest', img);
    const lying = { ...img.manifest, digest: `sha256:${'b'.repeat(64)}` };
    hub.manifests.set(img.manifest.digest, lying);
    const res = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect(res.headers['docker-content-digest']).toBe(img.manifest.digest);
  });

  it('refuses an upstream manifest over 4 MiB', async () => {
    const { hub, mirror } = ctx;
    const img = image([randomLayer(10)]);
    const huge = { ...img.manifest, bytes: Buffer.concat([img.manifest.bytes, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)]) };
    hub.push('library/node', 'huge', img);
    hub.manifests.set(img.manifest.digest, huge);
    const res = await http(mirror.url, '/v2/library/node/manifests/huge');
    expect([res.status, errorCode(res)]).toEqual([502, 'MANIFEST_INVALID']);
    expect(res.json().errors[0].message).toMatch(/exceeds/);
  });

  it('treats a blob file that disappeared from disk as a miss, not a 500', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(1000);
    hub.push('library/node', 'latest', image([layer]));
    expect((await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`)).status).toBe(200);
    await mirror.idle();
    const { rmSync } = await import('node:fs');
    rmSync(blobPath(mirror.dataDir, layer.digest));
    const again = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect(again.status).toBe(200);
    expect(again.sha256()).toBe(layer.digest);
    expect(hub.count({ server: 'cdn', path: new RegExp(layer.digest) })).toBe(2);
  });
});

describe('repository isolation', () => {
  it('serves a blob held for another repository only after the upstream confirms this one has it', async () => {
    const { hub, mirror } = ctx;
    const secret = randomLayer(1000);
    hub.push('private/secret', 'latest', image([secret]));
    hub.push('library/public', 'latest', image([randomLayer(10)]));
    expect((await http(mirror.url, `/v2/private/secret/blobs/${secret.digest}`)).status).toBe(200);
    const guess = await http(mirror.url, `/v2/library/public/blobs/${secret.digest}`);
    expect([guess.status, errorCode(guess)]).toEqual([404, 'BLOB_UNKNOWN']);
    expect(hub.count({ server: 'registry', method: 'HEAD', path: `/v2/library/public/blobs/${secret.digest}` })).toBeGreaterThan(0);
  });

  it('does the same for manifests by digest', async () => {
    const { hub, mirror } = ctx;
    const img = image([randomLayer(10)]);
    hub.push('private/secret', 'latest', img);
    hub.push('library/public', 'latest', image([randomLayer(10)]));
    expect((await http(mirror.url, '/v2/private/secret/manifests/latest')).status).toBe(200);
    const guess = await http(mirror.url, `/v2/library/public/manifests/${img.manifest.digest}`);
    expect([guess.status, errorCode(guess)]).toEqual([404, 'MANIFEST_UNKNOWN']);
  });
});
