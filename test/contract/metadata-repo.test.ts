import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryMetadataRepo } from '../../src/metadata/memory-repo.js';
import { SqliteMetadataRepo } from '../../src/metadata/sqlite-repo.js';
import { metadataRepoContract } from './metadata-repo.contract.js';

metadataRepoContract('SQLite', async (now) => {
  const dir = mkdtempSync(join(tmpdir(), 'cargohold-contract-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  let repo: SqliteMetadataRepo;
  try {
    repo = SqliteMetadataRepo.open(join(dir, 'cargohold.db'), now);
  } catch (err) {
    removeDir();
    throw err;
  }
  return {
    repo,
    async cleanup() {
      try {
        await repo.close(); // a second close (after a test closed it) is harmless
      } finally {
        removeDir();
      }
    },
  };
});

metadataRepoContract('memory', async (now) => {
  const repo = new MemoryMetadataRepo(now);
  return { repo, cleanup: () => repo.close() };
});
