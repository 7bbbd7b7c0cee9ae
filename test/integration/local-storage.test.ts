import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { image, randomLayer, sha256 } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { blobPath, startMirror, type Mirror } from '../support/mirror.js';
import { mountTmpfs } from '../support/tmpfs.js';
import { waitFor } from '../support/wait.js';

/** The data dir on a 6 MiB tmpfs, most of it taken by a filler file the test can delete to free the space. */
let hub: FakeHub;
let mirror: Mirror | undefined;
let dir: string;
let unmount: (() => void) | undefined;
let skipped: string | undefined;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cargohold-full-'));
  const mounted = mountTmpfs(dir, 6 * 1024 * 1024);
  if (typeof mounted === 'string') skipped = mounted;
  else unmount = mounted;
  hub = await FakeHub.start();
});

afterEach(async () => {
  await mirror?.close();
  mirror = undefined;
  await hub.close();
  unmount?.();
  unmount = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const logged = (m: Mirror, msg: string) => m.logs.lines.filter((l) => l.msg === msg).length;
const cdnGets = (digest: string) => hub.count({ server: 'cdn', method: 'GET', path: new RegExp(digest) });
/** Every temp file of a fill is closed (so the space of an unlinked one is free again). */
const fillsClosed = (m: Mirror) => waitFor(() => m.inspect().openFills === 0, 5000, 'fills to close');

/** Fills the tmpfs to the last page: nothing more can be allocated until the file is removed. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [MiB, 64 * 1024, 4096, 512]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe('a full disk is the operator’s problem: pulls go on, the bytes pass through unstored', () => {
  it('a blob the disk has no room for is served whole from one upstream GET, stored nowhere, logged once; once space is freed the next pull stores it', async (t) => {
    if (skipped) return t.skip(skipped);
    mirror = await startMirror(hub.registryUrl, { upstream: hub.trusted }, dir);
    const layer = randomLayer(3.5 * MiB);
    hub.push('library/node', 'latest', image([layer]));
    const filler = join(dir, 'filler');
    writeFileSync(filler, Buffer.alloc(4 * MiB)); // about 1.5 MiB left: the layer does not fit

    for (const pull of [1, 2]) {
      const res = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
      expect([res.status, res.headers['content-length'], res.body.length, res.sha256()]).toEqual([200, String(layer.size), layer.size, layer.digest]);
      expect(res.headers['x-cargohold-cache']).toBe('miss');
      await mirror.idle();
      await fillsClosed(mirror);
      expect(cdnGets(layer.digest)).toBe(pull); // each pull one GET, never resumed with Range
      expect(existsSync(blobPath(dir, layer.digest))).toBe(false);
      expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    }
    expect(hub.requests.filter((r) => r.range !== undefined)).toEqual([]);
    expect(logged(mirror, 'storage degraded: ENOSPC')).toBe(1);
    expect(logged(mirror, 'storage still degraded: ENOSPC')).toBe(1);
    expect(logged(mirror, 'blob fill failed; nothing stored')).toBe(0);
    const degraded = mirror.logs.find((l) => l.msg === 'storage degraded: ENOSPC');
    expect([degraded?.level, degraded?.area, degraded?.reason, degraded?.digest]).toEqual(['warn', 'blobs', 'no-space', layer.digest]);
    expect(mirror.storageHealth.snapshot()).toMatchObject({
      writable: false,
      blobs: { writable: false, failure: { operation: 'write temp file', reason: 'no-space', code: 'ENOSPC' } },
      metadata: { writable: true },
    });
    // /readyz says so (the tmpfs is also under health.minFreeBytes: only the storage check is asserted here).
    const unready = await http(mirror.url, '/readyz');
    const checks = unready.json<{ failed: string[]; checks: { storage: { ok: boolean; error?: string } } }>();
    expect(unready.status).toBe(503);
    expect(checks.failed).toContain('storage');
    expect(checks.checks.storage).toEqual({
      ok: false,
      error: "the mirror's writes are failing, content is passed through unstored: blobs: write temp file (ENOSPC)",
    });

    rmSync(filler);
    const again = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([again.status, again.sha256()]).toEqual([200, layer.digest]);
    await mirror.idle();
    expect(cdnGets(layer.digest)).toBe(3);
    expect(existsSync(blobPath(dir, layer.digest))).toBe(true);
    expect(logged(mirror, 'storage writable again')).toBe(1);
    expect(mirror.storageHealth.writable).toBe(true);
    expect((await http(mirror.url, '/readyz')).json<{ checks: { storage: unknown } }>().checks.storage).toEqual({ ok: true });
    const hit = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([hit.status, hit.headers['x-cargohold-cache'], hit.sha256()]).toEqual([200, 'hit', layer.digest]);
    expect(cdnGets(layer.digest)).toBe(3);
  });

  it('five clients of a fill whose writer fails midway all get the whole blob from its one upstream GET', async (t) => {
    if (skipped) return t.skip(skipped);
    mirror = await startMirror(hub.registryUrl, { upstream: hub.trusted }, dir);
    const layer = randomLayer(3.5 * MiB);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    // The first 256 KiB fit: every client joins the fill before the disk fills under it.
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 256 * 1024, release: new Promise<void>((resolve) => (release = resolve)) });
    writeFileSync(join(dir, 'filler'), Buffer.alloc(4 * MiB));

    const pulls = Array.from({ length: 5 }, () => http(mirror!.url, `/v2/library/node/blobs/${layer.digest}`));
    await waitFor(() => mirror!.inspect().readers === 5, 10_000, 'five readers on the fill');
    release();
    const replies = await Promise.all(pulls);
    expect(replies.map((r) => [r.status, r.body.length, r.sha256()])).toEqual(Array.from({ length: 5 }, () => [200, layer.size, layer.digest]));
    await mirror.idle();
    expect(cdnGets(layer.digest)).toBe(1);
    expect(logged(mirror, 'storage degraded: ENOSPC')).toBe(1);
    expect(existsSync(blobPath(dir, layer.digest))).toBe(false);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('a temp file that cannot be created: the blob passes through (200, whole), logged once', async (t) => {
    if (skipped) return t.skip(skipped);
    mirror = await startMirror(hub.registryUrl, { upstream: hub.trusted }, dir);
    const layer = randomLayer(10_000);
    hub.push('library/node', 'latest', image([layer]));
    rmSync(join(dir, 'tmp'), { recursive: true });
    writeFileSync(join(dir, 'tmp'), 'not a directory');
    for (const pull of [1, 2]) {
      const res = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
      expect([res.status, res.body.length, res.sha256()]).toEqual([200, layer.size, layer.digest]);
      await mirror.idle();
      expect(cdnGets(layer.digest)).toBe(pull);
    }
    expect(logged(mirror, 'storage degraded: EEXIST')).toBe(1);
    const degraded = mirror.logs.find((l) => l.msg === 'storage degraded: EEXIST');
    expect(degraded?.err).toBe("the mirror's storage failed (create temp file: EEXIST)");
    expect(existsSync(blobPath(dir, layer.digest))).toBe(false);
  });

  it('a manifest whose record the full database cannot write is served all the same (200, exact bytes), logged once; stored once space is back', async (t) => {
    if (skipped) return t.skip(skipped);
    mirror = await startMirror(hub.registryUrl, { upstream: hub.trusted }, dir);
    const img = image([randomLayer(1000)]);
    hub.push('library/node', 'latest', img);
    const filler = join(dir, 'filler');
    fillDisk(filler); // after the database was created: its next write finds no room

    // Authorized GETs: the first, anonymous one is only the token challenge.
    const manifestGets = () =>
      hub.requests.filter((r) => r.server === 'registry' && r.method === 'GET' && r.path === '/v2/library/node/manifests/latest' && r.authorization)
        .length;
    for (const pull of [1, 2]) {
      const res = await http(mirror.url, '/v2/library/node/manifests/latest', { headers: { accept: img.manifest.mediaType } });
      expect([res.status, res.headers['docker-content-digest'], res.headers['content-type'], sha256(res.body)]).toEqual([
        200,
        img.manifest.digest,
        img.manifest.mediaType,
        img.manifest.digest,
      ]);
      expect(res.body.equals(img.manifest.bytes)).toBe(true);
      expect(manifestGets()).toBe(pull); // not stored: asked again
    }
    expect(logged(mirror, 'storage degraded: SQLITE_FULL')).toBe(1);
    expect(mirror.storageHealth.snapshot()).toMatchObject({ writable: false, metadata: { writable: false, failure: { reason: 'no-space' } } });

    rmSync(filler);
    const stored = await http(mirror.url, '/v2/library/node/manifests/latest', { headers: { accept: img.manifest.mediaType } });
    expect([stored.status, stored.headers['docker-content-digest']]).toEqual([200, img.manifest.digest]);
    expect(manifestGets()).toBe(3);
    expect(logged(mirror, 'storage writable again')).toBe(1);
    const hit = await http(mirror.url, `/v2/library/node/manifests/${img.manifest.digest}`, { headers: { accept: img.manifest.mediaType } });
    expect([hit.status, hit.headers['x-cargohold-cache']]).toEqual([200, 'hit']);
    expect(manifestGets()).toBe(3);
  });
});
