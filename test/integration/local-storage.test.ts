import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { brokenTransfer, errorCode, http } from '../support/http.js';
import { blobPath, startMirror, type Mirror } from '../support/mirror.js';
import { mountTmpfs } from '../support/tmpfs.js';

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

describe('a full disk is a local failure, not an upstream one', () => {
  it('a fill that hits ENOSPC fails as a storage error: logged why, nothing stored, never resumed or retried upstream; once space is freed the next request works', async (t) => {
    if (skipped) return t.skip(skipped);
    mirror = await startMirror(hub.registryUrl, { upstream: { tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl] } }, dir);
    const layer = randomLayer(3 * 1024 * 1024);
    hub.push('library/node', 'latest', image([layer]));
    const filler = join(dir, 'filler');
    writeFileSync(filler, Buffer.alloc(4 * 1024 * 1024)); // about 1.5 MiB left: the layer does not fit

    const res = await brokenTransfer(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, res.ended]).toEqual([200, 'UND_ERR_SOCKET']);
    await mirror.idle();
    const failed = mirror.logs.find((l) => l.msg === 'blob fill failed; nothing stored');
    expect(failed?.err).toBe("the mirror's local storage failed (write temp file: ENOSPC)");
    expect(mirror.logs.find((l) => l.msg === 'upstream broke off mid-blob; resuming with Range')).toBeUndefined();
    expect(hub.count({ server: 'cdn', path: new RegExp(layer.digest) })).toBe(1);
    expect(existsSync(blobPath(dir, layer.digest))).toBe(false);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);

    rmSync(filler);
    const again = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([again.status, again.sha256()]).toEqual([200, layer.digest]);
    await mirror.idle();
    expect(existsSync(blobPath(dir, layer.digest))).toBe(true);
  });

  it('a temp file that cannot be created answers 503 naming local storage, before any byte is sent', async (t) => {
    if (skipped) return t.skip(skipped);
    mirror = await startMirror(hub.registryUrl, { upstream: { tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl] } }, dir);
    const layer = randomLayer(10_000);
    hub.push('library/node', 'latest', image([layer]));
    rmSync(join(dir, 'tmp'), { recursive: true });
    writeFileSync(join(dir, 'tmp'), 'not a directory');
    const res = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, errorCode(res)]).toEqual([503, 'UNAVAILABLE']);
    expect(res.json().errors[0]).toEqual({
      code: 'UNAVAILABLE',
      message: "the mirror's local storage failed (create temp file: EEXIST)",
      detail: { storage: 'other' },
    });
  });
});
