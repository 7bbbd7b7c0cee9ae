import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBlobBackend } from '../../src/storage/fs-backend.js';
import { MemoryBlobBackend, MemoryBlobStore } from '../../src/storage/memory-backend.js';
import { StoragePaths } from '../../src/storage/paths.js';
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
