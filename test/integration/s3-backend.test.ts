import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand } from '@aws-sdk/client-s3';
import { ReadinessProbe } from '../../src/observability/health.js';
import { freePort } from '../support/peers.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, parseDigest } from '../../src/oci/digest.js';
import { StoragePaths } from '../../src/storage/paths.js';
import { S3BlobBackend, type S3BackendOptions } from '../../src/storage/s3-backend.js';
import { openS3Reads } from '../../src/storage/s3-body.js';
import { cephInstalled, emptyBucket, makeBucket, s3Options, useCeph, type Ceph } from '../support/ceph.js';
import { waitFor } from '../support/wait.js';

const MiB = 1024 * 1024;
const CHILD = join(import.meta.dirname, '..', 'support', 's3-writer-child.ts');

describe.skipIf(!cephInstalled())('S3BlobBackend on Ceph: uploads, commits and sweeps', () => {
  let ceph: Ceph;
  let bucket: Awaited<ReturnType<typeof makeBucket>>;
  let prefix: string;
  const dirs: string[] = [];
  const backends: S3BlobBackend[] = [];

  beforeAll(async () => {
    ceph = await useCeph();
    bucket = await makeBucket(ceph, 'backend');
  });
  afterAll(async () => {
    await bucket?.remove();
  });
  afterEach(async () => {
    for (const backend of backends.splice(0)) backend.close();
    await emptyBucket(bucket.client, bucket.name, prefix);
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    expect(openS3Reads()).toBe(0);
  });

  function options(extra: Partial<S3BackendOptions> = {}): S3BackendOptions {
    return { ...s3Options(ceph, bucket.name, prefix), partSizeBytes: MiB, sharedTempMinAgeMs: 0, ...extra };
  }

  function dataDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'cargohold-s3-'));
    dirs.push(dir);
    return dir;
  }

  /** A backend over its own data dir (a replica) or a given one (another process of the same node). */
  async function backendOn(dir: string, extra: Partial<S3BackendOptions> = {}, instance?: string): Promise<S3BlobBackend> {
    const backend = new S3BlobBackend(options(extra), new StoragePaths(dir), instance);
    backends.push(backend);
    await backend.init();
    return backend;
  }

  async function uploads(): Promise<Array<{ key: string; id: string }>> {
    const page = await bucket.client.send(new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: prefix }));
    return (page.Uploads ?? []).map((u) => ({ key: u.Key as string, id: u.UploadId as string }));
  }

  async function keys(): Promise<string[]> {
    const page = await bucket.client.send(new ListObjectsV2Command({ Bucket: bucket.name, Prefix: prefix }));
    return (page.Contents ?? []).map((o) => o.Key as string).sort();
  }

  function blobKey(digest: string): string {
    const hex = digest.slice('sha256:'.length);
    return `${prefix}blobs/sha256/${hex.slice(0, 2)}/${hex}`;
  }

  function content(bytes: number): Buffer {
    return randomBytes(bytes);
  }

  it('a process killed mid-upload leaves no blob at the digest key; its upload is swept once old enough, by any replica', async () => {
    prefix = `kill-${randomBytes(3).toString('hex')}/`;
    const dir = dataDir();
    const instance = `killed${randomBytes(3).toString('hex')}`;
    const digest = digestOf(content(10));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CHILD, JSON.stringify({ options: options(), dataDir: dir, instance, bytes: 3 * MiB + 5, digest })],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor(() => out.includes('written'), 20_000, 'the child to write');
      // Its whole parts reach the bucket in the background: wait for three, then kill it.
      await waitFor(
        async () => {
          const [upload] = await uploads();
          if (!upload) return false;
          const parts = await bucket.client.send(new ListPartsCommand({ Bucket: bucket.name, Key: upload.key, UploadId: upload.id }));
          return (parts.Parts ?? []).length === 3;
        },
        20_000,
        'three parts uploaded',
      );
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect((await uploads()).map((u) => u.key)).toEqual([expect.stringMatching(new RegExp(`^${prefix}tmp/${instance}\\.[0-9a-f]{16}\\.1$`))]);
    expect(await keys()).toEqual([]); // no object at all: neither the blob nor a temp object
    expect(readdirSync(join(dir, 'tmp'))).toHaveLength(1); // its spool file

    // A replica (its own data dir) that only sweeps uploads untouched for an hour keeps it.
    const cautious = await backendOn(dataDir(), { sharedTempMinAgeMs: 60 * 60_000 });
    expect(await cautious.stat(parseDigest(digest))).toBeUndefined();
    expect(await cautious.sweepTemps(0)).toBe(0);
    expect(await uploads()).toHaveLength(1);
    // One that may sweep it now aborts it; the spool file is the node's own to sweep.
    const replica = await backendOn(dataDir());
    expect(await replica.sweepTemps(0)).toBe(1);
    expect(await uploads()).toEqual([]);
    expect(readdirSync(join(dir, 'tmp'))).toHaveLength(1);
    const sameNode = await backendOn(dir);
    expect(await sameNode.sweepTemps(0)).toBe(1);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(await keys()).toEqual([]);
  });

  it('racing replicas commit the same blob, multipart and single put: both succeed, one whole object, nothing left behind', async () => {
    prefix = `race-${randomBytes(3).toString('hex')}/`;
    const one = await backendOn(dataDir());
    const two = await backendOn(dataDir());
    for (const bytes of [3 * MiB + 123, 1000]) {
      const blob = content(bytes);
      const digest = parseDigest(digestOf(blob));
      const writers = [await one.writer(digest), await two.writer(digest)];
      for (const writer of writers) {
        await writer.write([blob.subarray(0, 700_000)]);
        await writer.write([blob.subarray(700_000)]);
      }
      await Promise.all(writers.map((w) => w.commit()));
      for (const writer of writers) await writer.close();
      for (const backend of [one, two]) {
        expect(await backend.stat(digest)).toEqual({ size: bytes });
        const stored = await backend.open(digest);
        const chunks: Buffer[] = [];
        for await (const chunk of stored!.body(0, bytes - 1).stream()) chunks.push(chunk as Buffer);
        expect(Buffer.concat(chunks).equals(blob)).toBe(true);
      }
      expect(await keys()).toContain(blobKey(digest.value));
    }
    expect((await keys()).filter((k) => !k.startsWith(`${prefix}blobs/`))).toEqual([]);
    expect(await uploads()).toEqual([]);
  });

  it('cancel during an upload aborts it: no upload, no object, no spool file', async () => {
    prefix = `cancel-${randomBytes(3).toString('hex')}/`;
    const dir = dataDir();
    const backend = await backendOn(dir);
    const blob = content(2 * MiB + 10);
    const writer = await backend.writer(parseDigest(digestOf(blob)));
    await writer.write([blob]);
    await waitFor(async () => (await uploads()).length === 1, 10_000, 'the upload to start');
    await writer.cancel();
    await writer.close();
    expect(await uploads()).toEqual([]);
    expect(await keys()).toEqual([]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('a part that cannot be uploaded fails the next write and the commit, while what was written still reads back', async () => {
    prefix = `fail-${randomBytes(3).toString('hex')}/`;
    const dir = dataDir();
    // A bucket that does not exist: the first part's upload fails (404), the spool does not.
    const backend = new S3BlobBackend({ ...options(), bucket: `missing-${randomBytes(4).toString('hex')}` }, new StoragePaths(dir));
    backends.push(backend);
    const blob = content(MiB + 100);
    const writer = await backend.writer(parseDigest(digestOf(blob)));
    await writer.write([blob.subarray(0, MiB + 50)]);
    await expect(
      waitFor(
        async () => {
          await writer.write([]);
          return false;
        },
        10_000,
        'a write to fail',
      ),
    ).rejects.toMatchObject({ name: 'StorageError', code: 'UNAVAILABLE', operation: 'create upload' });
    const back = Buffer.alloc(100);
    expect(await writer.read(back, 100, MiB)).toBe(50);
    expect(back.subarray(0, 50).equals(blob.subarray(MiB, MiB + 50))).toBe(true);
    await expect(writer.commit()).rejects.toMatchObject({ name: 'StorageError' });
    await writer.close();
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
  });

  it('readiness: a bucket that answers is ready; one that does not (or a gateway that is gone) is not, saying why', async () => {
    const dir = dataDir();
    const base = { metadata: { listRepositories: () => Promise.resolve([]) }, dataDir: dir, tmpDir: dir, instance: 'ready', minFreeBytes: 0 };
    const good = await backendOn(dir);
    expect((await new ReadinessProbe({ ...base, blobStore: good }).check()).checks.blobStore).toEqual({ ok: true });
    const missing = new S3BlobBackend({ ...options(), bucket: `missing-${randomBytes(4).toString('hex')}` }, new StoragePaths(dir));
    const gone = new S3BlobBackend({ ...options(), endpoint: `http://127.0.0.1:${await freePort()}` }, new StoragePaths(dir));
    backends.push(missing, gone);
    for (const backend of [missing, gone]) {
      const readiness = await new ReadinessProbe({ ...base, blobStore: backend, timeoutMs: 10_000 }).check();
      expect(readiness.ready).toBe(false);
      expect(readiness.checks.blobStore?.ok).toBe(false);
      expect(readiness.checks.blobStore?.error).toMatch(/reaching bucket/);
    }
  });
});
