import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { openS3Reads } from '../../src/storage/s3-body.js';
import { image, randomLayer } from '../fixtures/images.js';
import { cephInstalled, makeBucket, useCeph, type Ceph } from '../support/ceph.js';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';
import { waitFor } from '../support/wait.js';

const MiB = 1024 * 1024;

describe.skipIf(!cephInstalled())('a mirror storing blobs on S3 (Ceph RADOS gateway)', () => {
  let ceph: Ceph;
  let bucket: Awaited<ReturnType<typeof makeBucket>>;
  let hub: FakeHub;
  const mirrors: Mirror[] = [];
  let prefix = 0;

  beforeAll(async () => {
    ceph = await useCeph();
    bucket = await makeBucket(ceph, 'mirror');
  });
  afterAll(async () => {
    await bucket?.remove();
  });
  beforeEach(async () => {
    hub = await FakeHub.start();
  });
  afterEach(async () => {
    for (const mirror of mirrors.splice(0).reverse()) await mirror.destroy();
    await hub.close();
    expect(openS3Reads()).toBe(0);
  });

  /** Config for a mirror on this suite's bucket, under a prefix of its own per test. */
  function s3Config(extra: { redirect?: boolean } = {}): ConfigInput {
    return {
      upstream: { tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl] },
      storage: {
        s3: {
          endpoint: ceph.endpoint,
          bucket: bucket.name,
          region: ceph.region,
          prefix: `t${++prefix}`,
          credentials: ceph.credentials,
          partSizeBytes: '5MiB',
          ...extra,
        },
      },
    };
  }

  async function mirrorOn(config: ConfigInput, dataDir?: string): Promise<Mirror> {
    const mirror = await startMirror(hub.registryUrl, config, dataDir);
    mirrors.push(mirror);
    return mirror;
  }

  async function keys(under: string): Promise<string[]> {
    const page = await bucket.client.send(new ListObjectsV2Command({ Bucket: bucket.name, Prefix: under }));
    return (page.Contents ?? []).map((o) => o.Key as string).sort();
  }

  it('pulls an image into the bucket, and after a restart serves it from there with no upstream GET', async () => {
    // 12 MiB: two parts and a last one, completed and copied; the others: one conditional PUT each.
    const big = randomLayer(12 * MiB);
    const small = randomLayer(300_000);
    const img = image([big, small]);
    hub.push('library/node', '20', img);
    const config = s3Config();
    const first = await mirrorOn(config);

    const pulled = await pull(first.url, 'library/node', '20');
    expect(pulled.blobs).toEqual(img.blobs.map((b) => b.digest));
    for (const b of img.blobs) expect(hub.count({ server: 'cdn', method: 'GET', path: new RegExp(b.digest) })).toBe(1);
    await first.idle();
    const hex = (d: string) => d.slice('sha256:'.length);
    const expected = img.blobs.map((b) => `t${prefix}/blobs/sha256/${hex(b.digest).slice(0, 2)}/${hex(b.digest)}`).sort();
    expect(await keys(`t${prefix}/`)).toEqual(expected); // nothing under tmp/
    const uploads = await bucket.client.send(new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: `t${prefix}/` }));
    expect(uploads.Uploads ?? []).toEqual([]);
    // The data dir holds metadata and, while fills run, their spool files: no blob.
    expect(existsSync(join(first.dataDir, 'blobs', 'sha256'))).toBe(false);
    expect(readdirSync(join(first.dataDir, 'tmp'))).toEqual([]);

    await first.close();
    const second = await mirrorOn(config, first.dataDir);
    hub.resetCounts();
    const again = await pull(second.url, 'library/node', '20');
    expect(again.blobs).toEqual(pulled.blobs);
    // The tag's HEAD (and the token a new process needs for it), nothing else: no manifest or blob GET.
    expect(hub.count({ server: 'registry', method: 'GET' })).toBe(0);
    expect(hub.count({ server: 'cdn' })).toBe(0);
    const ranged = await http(second.url, `/v2/library/node/blobs/${big.digest}`, { headers: { range: 'bytes=5242870-5242889' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers['content-range']).toBe(`bytes 5242870-5242889/${big.bytes.length}`);
    expect(ranged.body.equals(big.bytes.subarray(5242870, 5242890))).toBe(true);
  });

  it('20 concurrent clients on an uncached blob cause one upstream GET and all get it whole', async () => {
    // Past one part: readers read back from the spool while the first part uploads.
    const layer = randomLayer(8 * MiB);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: MiB, release: new Promise<void>((resolve) => (release = resolve)) });
    const mirror = await mirrorOn(s3Config());
    const clients = Array.from({ length: 20 }, () => http(mirror.url, `/v2/library/node/blobs/${layer.digest}`));
    await waitFor(() => mirror.inspect().readers === 20, 10_000, 'twenty readers on the fill');
    release();
    const replies = await Promise.all(clients);
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expect(reply.sha256()).toBe(layer.digest);
    }
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    await mirror.idle();
    const hex = layer.digest.slice('sha256:'.length);
    expect(await keys(`t${prefix}/`)).toEqual([`t${prefix}/blobs/sha256/${hex.slice(0, 2)}/${hex}`]);
    const hit = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect(hit.headers['x-cargohold-cache']).toBe('hit');
    expect(hit.sha256()).toBe(layer.digest);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
  });

  it('with redirect on, a stored blob GET answers 307 to a presigned URL that curl follows, Range included; HEAD is answered here', async () => {
    const layer = randomLayer(3 * MiB);
    hub.push('library/node', 'latest', image([layer]));
    const mirror = await mirrorOn(s3Config({ redirect: true }));
    const url = `${mirror.url}/v2/library/node/blobs/${layer.digest}`;
    const miss = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect(miss.status).toBe(200); // a miss streams from the fill
    await mirror.idle();

    const hit = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect(hit.status).toBe(307);
    const location = hit.headers.location as string;
    expect(location.startsWith(`${ceph.endpoint}/${bucket.name}/t${prefix}/blobs/sha256/`)).toBe(true);
    expect(location).toContain('X-Amz-Expires=600');
    expect(hit.headers['docker-content-digest']).toBe(layer.digest);

    const dir = mkdtempSync(join(tmpdir(), 'cargohold-curl-'));
    try {
      const curl = promisify(execFile);
      await curl('curl', ['-sSfL', '-o', join(dir, 'whole'), url]);
      expect(
        `sha256:${createHash('sha256')
          .update(readFileSync(join(dir, 'whole')))
          .digest('hex')}`,
      ).toBe(layer.digest);
      await curl('curl', ['-sSfL', '-r', '1000-1999', '-o', join(dir, 'part'), url]);
      expect(readFileSync(join(dir, 'part')).equals(layer.bytes.subarray(1000, 2000))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const head = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(layer.bytes.length));
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
  });
});
