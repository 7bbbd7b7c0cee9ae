import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { MemoryMetadataRepo } from '../../src/metadata/memory-repo.js';
import { PostgresMetadataRepo } from '../../src/metadata/postgres-repo.js';
import { SqliteMetadataRepo } from '../../src/metadata/sqlite-repo.js';
import { missingPostgres, startPostgres, type PostgresCluster } from '../support/postgres.js';
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

// The same suite against a real PostgreSQL (a throwaway cluster for this file), each test on a database of its own.
const postgresMissing = missingPostgres();
describe.skipIf(postgresMissing !== undefined)('PostgreSQL', () => {
  let cluster: PostgresCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  metadataRepoContract('PostgreSQL', async (now) => {
    const repo = await PostgresMetadataRepo.open({ url: await cluster!.createDatabase(), poolSize: 4 }, now);
    return { repo, cleanup: () => repo.close() };
  });
});
