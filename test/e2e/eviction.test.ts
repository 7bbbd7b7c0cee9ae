import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import { image, randomLayer, sha256, type Image } from '../fixtures/images.js';
import { blobPath, startMirror, type Mirror } from '../support/mirror.js';
import { missingTools, run, startDistribution, type Distribution } from '../support/peers.js';
import { pushImage } from '../support/registry-push.js';

const missing = missingTools('docker-registry', 'skopeo');
const MiB = 1024 * 1024;
const MINUTE = 60_000;

describe.skipIf(missing)('a bounded cache, filled by skopeo from the CNCF distribution registry', () => {
  let dir: string;
  let upstream: Distribution;
  let mirror: Mirror;
  let time = 1_800_000_000_000;
  const images: Image[] = [0, 1, 2].map(() => image([randomLayer(MiB), randomLayer(64 * 1024)]));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cargohold-e2e-eviction-'));
    upstream = await startDistribution(join(dir, 'upstream'));
    for (const [i, img] of images.entries()) await pushImage(upstream.url, `team/app${i}`, '1', img);
    mirror = await startMirror(upstream.url, { cache: { maxSizeBytes: '2.6MiB', protectRecentMinutes: 10 } }, join(dir, 'mirror'), () => time);
  });
  afterAll(async () => {
    await mirror?.close();
    await upstream?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const copy = async (i: number, out: string) => {
    const host = mirror.url.replace('http://', '');
    await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${host}/team/app${i}:1`, `dir:${join(dir, out)}`]);
    await mirror.idle();
    // skopeo verified every digest; check what it wrote too.
    for (const blob of images[i]!.blobs) expect(sha256(readFileSync(join(dir, out, blob.digest.slice(7))))).toBe(blob.digest);
  };
  const layerGets = (img: Image) => upstream.requests().filter((r) => r.method === 'GET' && r.path.endsWith(img.layers[0]!.digest)).length;

  it('keeps the store under the cap as images are copied; sizes on disk and in the metadata store agree; a later copy refetches what went', async () => {
    const admin = new AdminClient(mirror.adminSocket);
    for (const i of [0, 1, 2]) {
      await copy(i, `first-${i}`);
      time += 20 * MINUTE;
    }
    // The automatic run after the last stored blob, then an explicit one: both under the cap.
    await admin.gc(false);
    const stats = await admin.stats();
    expect(stats.inventory.bytes).toBeLessThanOrEqual(2.6 * MiB);
    let onDisk = 0;
    let files = 0;
    const root = join(mirror.dataDir, 'blobs', 'sha256');
    for (const prefix of readdirSync(root))
      for (const hex of readdirSync(join(root, prefix))) {
        files++;
        onDisk += statSync(join(root, prefix, hex)).size;
      }
    expect(stats.inventory.blobs).toBe(files);
    expect(stats.inventory.bytes).toBe(onDisk);
    // The first image's big layer went; the last one's stayed.
    expect(existsSync(blobPath(mirror.dataDir, images[0]!.layers[0]!.digest))).toBe(false);
    expect(existsSync(blobPath(mirror.dataDir, images[2]!.layers[0]!.digest))).toBe(true);
    expect(layerGets(images[0]!)).toBe(1);
    await copy(0, 'again-0');
    expect(layerGets(images[0]!)).toBe(2);
  });
});
