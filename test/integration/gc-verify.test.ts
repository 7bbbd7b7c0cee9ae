import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import type { StoreStats } from '../../src/maintenance/stats.js';
import { image, randomLayer, type Image } from '../fixtures/images.js';
import { startCli } from '../support/cli-process.js';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { blobPath, startMirror, type Mirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';

const HOUR = 3_600_000;
const T0 = 1_800_000_000_000;

let hub: FakeHub;
let mirror: Mirror;
let admin: AdminClient;
let time: number;

beforeEach(async () => {
  time = T0;
  hub = await FakeHub.start();
  mirror = await startMirror(hub.registryUrl, { cache: { gcGraceMinutes: 60 }, upstream: hub.trusted }, undefined, () => time);
  admin = new AdminClient(mirror.adminSocket);
});

afterEach(async () => {
  await mirror?.destroy();
  await hub?.close();
});

const cdnGets = (digest: string) => hub.count({ server: 'cdn', method: 'GET', path: new RegExp(digest.slice(7)) });

describe('cargohold gc', () => {
  it('removes blobs no cached manifest references once past the grace period; a dry run only reports', async () => {
    const img = image([randomLayer(5000)]);
    const loose = randomLayer(7000);
    hub.push('library/app', '1', img);
    hub.push('library/app', 'loose', image([loose]));
    await pull(mirror.url, 'library/app', '1');
    // A blob fetched by digest alone: no manifest here references it.
    expect((await http(mirror.url, `/v2/library/app/blobs/${loose.digest}`)).status).toBe(200);
    await mirror.idle();

    // Within the grace period (its manifest may be on its way): kept.
    expect((await admin.gc(false)).gc.unreferenced).toEqual({ blobs: 0, bytes: 0 });
    time += 2 * HOUR;
    const dry = await admin.gc(true);
    expect(dry.gc).toMatchObject({ dryRun: true, unreferenced: { blobs: 1, bytes: loose.size }, missing: 0, temps: 0 });
    expect(existsSync(blobPath(mirror.dataDir, loose.digest))).toBe(true);
    const real = await admin.gc(false);
    expect(real.gc.unreferenced).toEqual({ blobs: 1, bytes: loose.size });
    expect(existsSync(blobPath(mirror.dataDir, loose.digest))).toBe(false);
    for (const blob of img.blobs) expect(existsSync(blobPath(mirror.dataDir, blob.digest))).toBe(true);
    expect(real.store).toEqual({ blobs: img.blobs.length, bytes: img.blobs.reduce((n, b) => n + b.size, 0) });
    // Gone means fetched again on the next GET.
    expect((await http(mirror.url, `/v2/library/app/blobs/${loose.digest}`)).sha256()).toBe(loose.digest);
    expect(cdnGets(loose.digest)).toBe(2);
  });

  it('forgets records whose file is gone, records verified unrecorded files, removes corrupt ones and dead temp files', async () => {
    const [a, b] = [image([randomLayer(3000)]), image([randomLayer(4000)])] as [Image, Image];
    hub.push('library/a', '1', a);
    hub.push('library/b', '1', b);
    await pull(mirror.url, 'library/a', '1');
    await mirror.idle();
    const [aLayer, bLayer] = [a.layers[0]!, b.layers[0]!];
    // A record whose file vanished.
    rmSync(blobPath(mirror.dataDir, aLayer.digest));
    // A verified file nobody recorded (a kill between a commit and its record) and a corrupt one.
    const orphan = blobPath(mirror.dataDir, bLayer.digest);
    mkdirSync(dirname(orphan), { recursive: true });
    writeFileSync(orphan, bLayer.bytes);
    const corruptBytes = Buffer.from(bLayer.bytes);
    corruptBytes[0] = corruptBytes[0]! ^ 0xff;
    const corrupt = blobPath(mirror.dataDir, b.config.digest);
    mkdirSync(dirname(corrupt), { recursive: true });
    writeFileSync(corrupt, corruptBytes);
    // A temp file of another instance untouched for two hours, and a fresh one.
    const tmp = join(mirror.dataDir, 'tmp');
    writeFileSync(join(tmp, 'deadbeef0000.0123456789abcdef.1'), 'x');
    utimesSync(join(tmp, 'deadbeef0000.0123456789abcdef.1'), new Date(Date.now() - 2 * HOUR), new Date(Date.now() - 2 * HOUR));
    writeFileSync(join(tmp, 'deadbeef0001.0123456789abcdef.1'), 'y');

    const dry = await admin.gc(true);
    expect(dry.gc).toMatchObject({ missing: 1, orphans: { recorded: 1, removed: 1 }, temps: 0 });
    expect(existsSync(corrupt)).toBe(true);
    const { gc } = await admin.gc(false);
    expect(gc).toMatchObject({ missing: 1, orphans: { recorded: 1, removed: 1 }, temps: 1, unreferenced: { blobs: 0, bytes: 0 } });
    expect(existsSync(corrupt)).toBe(false);
    expect(readdirSync(tmp)).toEqual(['deadbeef0001.0123456789abcdef.1']);

    // The forgotten blob is fetched again; the recorded orphan is served with no blob GET (its repository confirmed by a HEAD).
    expect((await http(mirror.url, `/v2/library/a/blobs/${aLayer.digest}`)).sha256()).toBe(aLayer.digest);
    expect(cdnGets(aLayer.digest)).toBe(2);
    const served = await http(mirror.url, `/v2/library/b/blobs/${bLayer.digest}`);
    expect(served.sha256()).toBe(bLayer.digest);
    expect(served.headers['x-cargohold-cache']).toBe('hit');
    expect(cdnGets(bLayer.digest)).toBe(0);
  });
});

describe('cargohold verify', () => {
  it('re-hashes every blob; finds a corrupt file and a missing one; --repair removes and forgets them', async () => {
    const img = image([randomLayer(20_000), randomLayer(30_000)]);
    hub.push('library/app', '1', img);
    await pull(mirror.url, 'library/app', '1');
    await mirror.idle();
    const [first, second] = img.layers as [Image['layers'][0], Image['layers'][0]];
    const corrupted = Buffer.from(first.bytes);
    corrupted[100] = corrupted[100]! ^ 1;
    writeFileSync(blobPath(mirror.dataDir, first.digest), corrupted);
    rmSync(blobPath(mirror.dataDir, second.digest));

    const progress: number[] = [];
    const report = await admin.verify(false, (p) => progress.push(p.bytes));
    expect(report).toEqual({
      repair: false,
      checked: 3,
      bytes: img.config.size + first.size,
      missing: [second.digest],
      corrupt: [first.digest],
      wrongSize: [],
    });
    expect(existsSync(blobPath(mirror.dataDir, first.digest))).toBe(true);
    const repaired = await admin.verify(true, () => undefined);
    expect(repaired).toMatchObject({ repair: true, missing: [second.digest], corrupt: [first.digest] });
    expect(existsSync(blobPath(mirror.dataDir, first.digest))).toBe(false);
    expect(await admin.verify(false, () => undefined)).toMatchObject({ checked: 1, missing: [], corrupt: [] });
    // The next pull fetches both again and verifies.
    await pull(mirror.url, 'library/app', '1');
    expect(cdnGets(first.digest)).toBe(2);
    expect(cdnGets(second.digest)).toBe(2);
  });
});

describe('the maintenance CLI', () => {
  it('verify, gc, stats and ls work on the data dir directly when no server runs, and through the server when one does', async () => {
    const img = image([randomLayer(20_000)]);
    hub.push('library/app', '1', img);
    await pull(mirror.url, 'library/app', '1');
    await mirror.idle();
    const dataDir = mirror.dataDir;
    const env = { CARGOHOLD_DATA_DIR: dataDir, CARGOHOLD_UPSTREAM: hub.registryUrl };
    const run = async (...args: string[]) => {
      const child = startCli(args, env);
      const { code } = await child.exited;
      return { code, stdout: child.output() }; // stdout and stderr, in order
    };

    // Through the running server.
    const ls = await run('ls', 'app');
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`^docker\\.io/library/app:1\\t${img.manifest.digest}\\t20\\.\\d kB\\t\\d{4}-`, 'm'));
    const stats = JSON.parse((await run('stats', '--json')).stdout) as StoreStats;
    const blobBytes = img.blobs.reduce((n, b) => n + b.size, 0);
    expect(stats.inventory).toMatchObject({ blobs: 2, bytes: blobBytes });
    // The pull: HEAD of the tag (fetched: a miss), the manifest by digest (a hit), two blobs (misses).
    expect(stats.traffic).toMatchObject({
      responses: { hit: 1, miss: 3, coalesced: 0, stale: 0 },
      hitRatio: 0.25,
      bytesFromCache: img.manifest.size,
      bytesFromUpstream: blobBytes,
    });
    expect((await run('stats')).stdout).toMatch(/^ {2}responses {3}1 hit, 3 miss, 0 coalesced, 0 stale; hit ratio 25\.0%$/m);

    // Directly, with the server stopped (the data dir kept).
    await mirror.close();
    copyFileSync(blobPath(dataDir, img.config.digest), blobPath(dataDir, img.layers[0]!.digest)); // the layer's file now holds other bytes
    const bad = await run('verify');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`wrong size  ${img.layers[0]!.digest}`);
    expect(bad.stdout).toContain("run 'cargohold verify --repair'");
    const fixed = await run('verify', '--repair');
    expect(fixed.code).toBe(0);
    expect((await run('verify')).stdout).toContain('every blob verified');
    const dry = await run('gc', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^dry run: would free 0 B$/m);
    expect((await run('ls', 'nothing-here')).code).toBe(1);
    expect((await run('ls', 'Bad_Name')).code).toBe(2);
  }, 120_000); // ten CLI processes, each compiling the TypeScript with tsx
});
