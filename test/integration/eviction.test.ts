import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { image, randomLayer, type Image } from '../fixtures/images.js';
import { http } from '../support/http.js';
import { FakeHub } from '../support/fake-hub.js';
import { blobPath, startMirror, type Mirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';
import { waitFor } from '../support/wait.js';

const MiB = 1024 * 1024;
const MINUTE = 60_000;
const T0 = 1_800_000_000_000;

let hub: FakeHub;
let mirror: Mirror;
let admin: AdminClient;
let time: number;

async function start(cache: ConfigInput['cache']): Promise<void> {
  mirror = await startMirror(hub.registryUrl, { cache, upstream: hub.trusted }, undefined, () => time);
  admin = new AdminClient(mirror.adminSocket);
}

beforeEach(async () => {
  time = T0;
  hub = await FakeHub.start();
});

afterEach(async () => {
  await mirror?.destroy();
  await hub?.close();
});

/** Sizes of the blob files in the data dir, by digest. */
function blobFiles(): Map<string, number> {
  const files = new Map<string, number>();
  const root = join(mirror.dataDir, 'blobs', 'sha256');
  if (!existsSync(root)) return files;
  for (const prefix of readdirSync(root)) {
    for (const hex of readdirSync(join(root, prefix))) files.set(`sha256:${hex}`, statSync(join(root, prefix, hex)).size);
  }
  return files;
}

const stored = (img: Image) => img.blobs.every((b) => existsSync(blobPath(mirror.dataDir, b.digest)));
const gone = (img: Image) => img.blobs.every((b) => !existsSync(blobPath(mirror.dataDir, b.digest)));
const layerGone = (img: Image) => img.layers.every((b) => !existsSync(blobPath(mirror.dataDir, b.digest)));
const cdnGets = (img: Image) => img.blobs.reduce((n, b) => n + hub.count({ server: 'cdn', method: 'GET', path: new RegExp(b.digest.slice(7)) }), 0);

/** The store's files and the metadata store agree: the same blobs, the same bytes. */
async function expectStoreConsistent(): Promise<void> {
  const files = blobFiles();
  const stats = await admin.stats();
  expect(stats.inventory.blobs).toBe(files.size);
  expect(stats.inventory.bytes).toBe([...files.values()].reduce((a, b) => a + b, 0));
}

describe('a bounded cache', () => {
  it('evicts the least recently pulled image past the cap, keeps recent pulls, and a later pull refetches what went', async () => {
    await start({ maxSizeBytes: '2.5MiB', lowWaterPercent: 90, protectRecentMinutes: 10 });
    const [a, b, c] = ['a', 'b', 'c'].map(() => image([randomLayer(MiB)])) as [Image, Image, Image];
    hub.push('library/a', 'latest', a);
    hub.push('library/b', 'latest', b);
    hub.push('library/c', 'latest', c);

    await pull(mirror.url, 'library/a', 'latest');
    await mirror.idle(); // the blobs are recorded (after their last byte went out) before the clock moves
    time += 20 * MINUTE;
    await pull(mirror.url, 'library/b', 'latest');
    await mirror.idle();
    expect(stored(a) && stored(b)).toBe(true);
    time += 20 * MINUTE;
    await pull(mirror.url, 'library/c', 'latest');
    await mirror.idle();
    // Three images of ~1 MiB passed the 2.5 MiB cap: the oldest goes, down to 90% of the cap.
    // Blob by blob, least recently accessed first (then by digest): a's 1 MiB layer is enough to get under 90% of the cap.
    await waitFor(() => layerGone(a), 5000, "image a's layer evicted");
    expect(stored(b) && stored(c)).toBe(true);
    await expectStoreConsistent();
    const usage = (await admin.stats()).inventory.bytes;
    expect(usage).toBeLessThanOrEqual(2.25 * MiB);

    // The manifest stayed: pulling a again fetches its layer once more (its config is still here), with the same digests.
    expect(cdnGets(a)).toBe(2);
    // Which of a's two blobs (both pulled at the same moment) went first is by digest; the layer had to.
    const evictedOfA = a.blobs.filter((x) => !existsSync(blobPath(mirror.dataDir, x.digest))).length;
    const again = await pull(mirror.url, 'library/a', 'latest');
    await mirror.idle(); // the blobs are recorded (after their last byte went out) before the clock moves
    expect(again.blobs).toEqual(a.blobs.map((x) => x.digest));
    expect(cdnGets(a)).toBe(2 + evictedOfA);
    await mirror.idle();
    // Now b is the least recently pulled; a and c were pulled within the last 10 minutes.
    await waitFor(() => layerGone(b), 5000, "image b's layer evicted");
    expect(stored(a) && stored(c)).toBe(true);
    await expectStoreConsistent();
  });

  it('never evicts a pinned image, nor an image pulled within protectRecentMinutes', async () => {
    await start({ maxSizeBytes: '1.5MiB', protectRecentMinutes: 10, evictEverySeconds: 3600 });
    const [a, b, c] = ['a', 'b', 'c'].map(() => image([randomLayer(MiB)])) as [Image, Image, Image];
    hub.push('library/a', 'latest', a);
    hub.push('library/b', 'latest', b);
    hub.push('library/c', 'latest', c);
    const events: string[] = [];
    await admin.warm({ targets: [{ image: 'a:latest', platforms: 'all' }], concurrency: 2, pin: true }, (e) => events.push(e.kind));
    expect(events).toContain('pinned');
    time += 20 * MINUTE;
    await pull(mirror.url, 'library/b', 'latest');
    await mirror.idle(); // the blobs are recorded (after their last byte went out) before the clock moves
    time += 5 * MINUTE;
    await pull(mirror.url, 'library/c', 'latest');
    await mirror.idle();
    const { eviction } = await admin.gc(false);
    // 3 MiB against a 1.5 MiB cap, yet a is pinned and c was pulled 0 minutes ago, b 5 minutes ago: nothing may go.
    expect(eviction.evicted).toBe(0);
    expect(stored(a) && stored(b) && stored(c)).toBe(true);
    // Past b's protection: b goes, a (pinned, oldest) stays, c is within 10 minutes still.
    time += 6 * MINUTE;
    const second = await admin.gc(false);
    expect(second.eviction.evicted).toBe(b.blobs.length);
    expect(second.eviction.evictedBytes).toBe(b.blobs.reduce((n, x) => n + x.size, 0));
    expect(gone(b)).toBe(true);
    expect(stored(a) && stored(c)).toBe(true);
    await expectStoreConsistent();
    // The metrics count what went, and both GC runs.
    const text = (await http(mirror.url, '/metrics')).body.toString();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('cargohold_evictions_total')).toBe(b.blobs.length);
    expect(value('cargohold_evicted_bytes_total')).toBe(b.blobs.reduce((n, x) => n + x.size, 0));
    expect(value('cargohold_gc_runs_total')).toBe(2);
  });

  it('a blob being read is never evicted; it goes once its reader is done', async () => {
    await start({ maxSizeBytes: '1MiB', protectRecentMinutes: 0, evictEverySeconds: 3600 });
    const big = image([randomLayer(32 * MiB)]);
    hub.push('library/big', 'latest', big);
    await pull(mirror.url, 'library/big', 'latest');
    await mirror.idle();
    // Pulled just now: its manifest protects it, though it is 32 times the cap.
    const layerDigest = big.layers[0]!.digest;
    expect((await admin.gc(false)).eviction.evicted).toBe(0);
    expect(stored(big)).toBe(true);
    time += MINUTE;
    expect((await admin.gc(false)).eviction.evicted).toBeGreaterThan(0);
    expect(layerGone(big)).toBe(true);
    // Fetch it again (protected while its pull is recent), then hold a reader of the stored blob mid-body.
    await pull(mirror.url, 'library/big', 'latest');
    await mirror.idle();
    expect(existsSync(blobPath(mirror.dataDir, layerDigest))).toBe(true);
    time += MINUTE;

    const agent = new Agent({ connections: 1 });
    const res = await agent.request({ origin: mirror.url, path: `/v2/library/big/blobs/${layerDigest}`, method: 'GET' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-cargohold-cache']).toBe('hit');
    // Not reading yet: the server holds the blob open for this response (32 MiB: more than the socket buffers take).
    const { eviction } = await admin.gc(false);
    expect(eviction.skippedInUse).toBe(1);
    expect(existsSync(blobPath(mirror.dataDir, layerDigest))).toBe(true);
    const body = Buffer.from(await res.body.arrayBuffer());
    await agent.close();
    expect(body.equals(big.layers[0]!.bytes)).toBe(true);
    // The reader is done: the blob can go now.
    await waitFor(
      async () => (await admin.gc(false)).eviction.skippedInUse === 0 && !existsSync(blobPath(mirror.dataDir, layerDigest)),
      5000,
      'evicted',
    );
    await expectStoreConsistent();
  });

  it('eviction while 20 clients stream a blob being filled: every client gets the whole blob', async () => {
    await start({ maxSizeBytes: '1MiB', protectRecentMinutes: 0, evictEverySeconds: 3600 });
    const layer = randomLayer(32 * MiB);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 2 * MiB, release: new Promise<void>((r) => (release = r)) });
    const agent = new Agent({ connections: 32 });
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    let started = 0;
    const clients = Array.from({ length: 20 }, async () => {
      const res = await agent.request({ origin: mirror.url, path: `/v2/library/node/blobs/${layer.digest}`, method: 'GET' });
      // Each reads its first bytes, then waits: the readers outlive the fill's record.
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) {
        if (chunks.length === 0) {
          started++;
          await gate;
        }
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    });
    await waitFor(() => started === 20);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    // While the fill runs nothing is recorded yet: nothing to evict.
    expect((await admin.gc(false)).eviction.evicted).toBe(0);
    release();
    await mirror.idle();
    // Stored and recorded, 32 MiB against a 1 MiB cap, but 20 readers are mid-body (more than socket buffers hold): kept.
    const during = await admin.gc(false);
    expect(during.eviction).toMatchObject({ evicted: 0, skippedInUse: 1 });
    expect(existsSync(blobPath(mirror.dataDir, layer.digest))).toBe(true);
    openGate();
    const bodies = await Promise.all(clients);
    await agent.close();
    for (const body of bodies) expect(body.equals(layer.bytes)).toBe(true);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    // Nobody reads it now: it is evicted.
    await waitFor(async () => (await admin.gc(false), !existsSync(blobPath(mirror.dataDir, layer.digest))), 5000, 'evicted');
    await expectStoreConsistent();
  });

  it('maxAgeDays evicts blobs not pulled for that long, whatever the size', async () => {
    await start({ maxAgeDays: 7, protectRecentMinutes: 10, evictEverySeconds: 3600 });
    const [old, fresh] = [image([randomLayer(1000)]), image([randomLayer(1000)])];
    hub.push('library/old', 'latest', old);
    hub.push('library/fresh', 'latest', fresh);
    await pull(mirror.url, 'library/old', 'latest');
    await mirror.idle(); // the blobs are recorded (after their last byte went out) before the clock moves
    time += 6 * 24 * 60 * MINUTE;
    await pull(mirror.url, 'library/fresh', 'latest');
    await mirror.idle();
    expect((await admin.gc(false)).eviction.evicted).toBe(0);
    time += 2 * 24 * 60 * MINUTE; // old: 8 days, fresh: 2 days
    const { eviction } = await admin.gc(false);
    expect(eviction.evicted).toBe(old.blobs.length);
    expect(gone(old)).toBe(true);
    expect(stored(fresh)).toBe(true);
  });
});
