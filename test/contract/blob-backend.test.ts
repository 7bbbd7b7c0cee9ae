import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { FsBlobBackend } from '../../src/storage/fs-backend.js';
import { MemoryBlobBackend, MemoryBlobStore } from '../../src/storage/memory-backend.js';
import { StoragePaths } from '../../src/storage/paths.js';
import { S3BlobBackend } from '../../src/storage/s3-backend.js';
import { cephInstalled, emptyBucket, makeBucket, s3Options, useCeph } from '../support/ceph.js';
import { blobBackendContract } from './blob-backend.contract.js';

blobBackendContract('filesystem', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cargohold-contract-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  // Each instance gets its own random id, as each process start does.
  const instance = async () => {
    const backend = new FsBlobBackend(new StoragePaths(dir));
    await backend.init();
    return backend;
  };
  try {
    return { backend: await instance(), other: instance, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
});

blobBackendContract('memory', async () => {
  const store = new MemoryBlobStore();
  return { backend: new MemoryBlobBackend(store), other: async () => new MemoryBlobBackend(store), cleanup: async () => undefined };
});

// The same suite on S3: Ceph's RADOS gateway, started once for the run (test/support/ceph.ts). Each
// backend gets a prefix of its own in the suite's bucket; parts of 1 MiB, so the 3 MiB blob goes multipart.
if (cephInstalled()) {
  let bucket: Promise<Awaited<ReturnType<typeof makeBucket>>> | undefined;
  afterAll(async () => {
    await (await bucket)?.remove();
  });
  blobBackendContract('s3 (Ceph RADOS gateway)', async () => {
    const ceph = await useCeph();
    const { name, client } = await (bucket ??= makeBucket(ceph, 'contract'));
    const prefix = `run-${randomBytes(4).toString('hex')}/`;
    const dir = mkdtempSync(join(tmpdir(), 'cargohold-contract-s3-'));
    const made: S3BlobBackend[] = [];
    // Two instances over the same data dir and bucket, as two processes of one node would be.
    const instance = async () => {
      const backend = new S3BlobBackend(
        { ...s3Options(ceph, name, prefix), partSizeBytes: 1024 * 1024, sharedTempMinAgeMs: 0 },
        new StoragePaths(dir),
      );
      made.push(backend);
      await backend.init();
      return backend;
    };
    const cleanup = async () => {
      for (const backend of made) backend.close();
      await emptyBucket(client, name, prefix);
      await rm(dir, { recursive: true, force: true });
    };
    try {
      return { backend: await instance(), other: instance, cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  });
}
