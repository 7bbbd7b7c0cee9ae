import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresMetadataRepo } from '../../src/metadata/postgres-repo.js';
import type { Lease, LeaseHolder } from '../../src/ports/metadata-repo.js';
import { image, randomLayer } from '../fixtures/images.js';
import { startCli } from '../support/cli-process.js';
import { FakeHub } from '../support/fake-hub.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { missingPostgres, startPostgres, type PostgresCluster } from '../support/postgres.js';
import { pull } from '../support/pull.js';
import { waitFor } from '../support/wait.js';

/** Rows of one query on the database at url (a connection of its own, closed after). */
async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

const postgresMissing = missingPostgres();

describe.skipIf(postgresMissing !== undefined)('metadata on PostgreSQL', () => {
  let cluster: PostgresCluster;
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(async () => {
    cluster = await startPostgres();
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('a mirror on PostgreSQL pulls an image, restarts, and serves it from the cache with no upstream GET; the log names the database without its password', async () => {
    const url = await cluster.createDatabase();
    const hub = await FakeHub.start();
    cleanups.push(() => hub.close());
    const img = image([randomLayer(100_000), randomLayer(30_000)]);
    hub.push('library/node', '22', img);
    const overrides = {
      metadata: { postgres: { url, poolSize: 3 } },
      upstream: { tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl] },
    };
    let mirror: Mirror = await startMirror(hub.registryUrl, overrides);
    const dataDir = mirror.dataDir;
    cleanups.push(() => mirror.destroy());

    const first = await pull(mirror.url, 'library/node', '22');
    expect(first.digest).toBe(img.manifest.digest);
    for (const b of img.blobs) expect(hub.count({ server: 'cdn', method: 'GET', path: new RegExp(b.digest) })).toBe(1);
    const firstLogs = mirror.logs.lines;
    await mirror.close();

    // The records are in PostgreSQL, not in a SQLite file in the data dir.
    expect(existsSync(join(dataDir, 'cargohold.db'))).toBe(false);
    const blobs = await query<{ digest: string }>(url, 'SELECT digest FROM blobs ORDER BY digest');
    expect(blobs.map((r) => r.digest)).toEqual(img.blobs.map((b) => b.digest).sort());

    hub.resetCounts();
    mirror = await startMirror(hub.registryUrl, overrides, dataDir);
    const second = await pull(mirror.url, 'library/node', '22');
    expect(second.blobs).toEqual(first.blobs);
    // Tag TTL 0 (startMirror's default): the tag is revalidated with a HEAD (the new process first gets a
    // token from the realm); no manifest or blob is fetched again.
    expect(hub.count({ server: 'registry', method: 'GET' })).toBe(0);
    expect(hub.count({ server: 'cdn' })).toBe(0);
    expect(hub.requests.filter((r) => r.server === 'registry').every((r) => r.method === 'HEAD' && r.path === '/v2/library/node/manifests/22')).toBe(
      true,
    );
    await waitFor(() => mirror.logs.requests().length === 5, 5000, 'five request log lines');
    expect(mirror.logs.requests().map((l) => l.cache)).toEqual(['hit', 'hit', 'hit', 'hit', 'hit']);

    const listening = mirror.logs.find((l) => l.msg === 'cargohold listening');
    expect(listening?.metadata).toBe(url.replace(`:${cluster.password}@`, ':***@'));
    const everything = JSON.stringify([...firstLogs, ...mirror.logs.lines]);
    expect(everything).not.toContain(cluster.password);
  });

  it('replicas opening the same empty database at once both succeed, and each migration is applied once', async () => {
    const url = await cluster.createDatabase();
    const repos = await Promise.all([1, 2].map(() => PostgresMetadataRepo.open({ url, poolSize: 2 })));
    cleanups.push(async () => {
      for (const repo of repos) await repo.close();
    });
    expect(await query(url, 'SELECT version, name FROM cargohold_migrations ORDER BY version')).toEqual([
      { version: 1, name: '001_initial.sql' },
      { version: 2, name: '002_traffic.sql' },
      { version: 3, name: '003_cluster.sql' },
    ]);
    // Both work on the one schema: what one records the other finds.
    const [one, two] = repos as [PostgresMetadataRepo, PostgresMetadataRepo];
    await one.recordBlob(`sha256:${'a'.repeat(64)}`, 7, ['library/node']);
    expect(await two.findBlob('library/node', `sha256:${'a'.repeat(64)}`)).toEqual({ size: 7, linked: true });
    // Opening again applies nothing.
    const again = await PostgresMetadataRepo.open({ url, poolSize: 1 });
    await again.close();
    expect(await query(url, 'SELECT count(*)::int AS n FROM cargohold_migrations')).toEqual([{ n: 3 }]);
  });

  it('the filler lease between processes: of replicas taking a free lease at once, exactly one holds it', async () => {
    const url = await cluster.createDatabase();
    // Each replica its own pool (its own connections), as processes on different hosts have.
    const repos = await Promise.all(Array.from({ length: 6 }, () => PostgresMetadataRepo.open({ url, poolSize: 1 })));
    cleanups.push(async () => {
      for (const repo of repos) await repo.close();
    });
    const holder = (i: number): LeaseHolder => ({
      instance: `replica-${i}`,
      endpoint: `/run/${i}.sock`,
      description: `replica ${i}`,
      host: `host-${i}`,
    });
    const TTL = 60_000; // no lease expires during the test: each round starts free (released)
    for (let round = 0; round < 5; round++) {
      const leases: Lease[] = await Promise.all(repos.map((repo, i) => repo.acquireLease('filler', holder(i), TTL)));
      const winner = leases[0]!.instance;
      expect(leases.map((l) => l.instance)).toEqual(leases.map(() => winner));
      const renewed = await Promise.all(repos.map((repo, i) => repo.renewLease('filler', `replica-${i}`, TTL)));
      expect(renewed.filter(Boolean)).toHaveLength(1);
      expect(renewed[Number(winner.slice('replica-'.length))]).toBe(true);
      await repos[0]!.releaseLease('filler', winner);
    }
  });

  it('a command on an unusable PostgreSQL says so in one line, naming the database without the password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cargohold-pgcli-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const url = await cluster.createDatabase();
    const wrong = url.replace(`:${cluster.password}@`, ':not-the-password@');
    const cli = startCli(['pins', '--data-dir', dir], { CARGOHOLD_POSTGRES_URL: wrong, CARGOHOLD_LOG_LEVEL: '' });
    const code = await new Promise<number | null>((resolve) => cli.child.once('close', resolve));
    expect({ code, output: cli.output() }).toEqual({
      code: 1,
      output: `cargohold: cannot open the PostgreSQL metadata database ${url.replace(`:${cluster.password}@`, ':***@')} (password authentication failed for user "postgres")\n`,
    });
  }, 60_000);
});
