import pg from 'pg';
import { afterAll, beforeAll, describe } from 'vitest';
import { MemoryCluster, MemoryClusterState } from '../../src/cluster/memory-cluster.js';
import { PostgresCluster } from '../../src/cluster/postgres-cluster.js';
import { migratePostgres } from '../../src/metadata/postgres-migrate.js';
import { missingPostgres, startPostgres, type PostgresCluster as PostgresServer } from '../support/postgres.js';
import { clusterContract } from './cluster.contract.js';

clusterContract('memory', () => {
  const state = new MemoryClusterState();
  return Promise.resolve({ replica: (instance, ttlMs) => new MemoryCluster(state, instance, ttlMs), cleanup: () => Promise.resolve() });
});

const postgresMissing = missingPostgres();
describe.skipIf(postgresMissing !== undefined)('PostgreSQL', () => {
  let server: PostgresServer | undefined;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  clusterContract('PostgreSQL', async () => {
    const url = await server!.createDatabase();
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    await migratePostgres(pool);
    await pool.end();
    return { replica: (instance, ttlMs) => new PostgresCluster({ url, instance, ttlMs }), cleanup: () => Promise.resolve() };
  });
});
