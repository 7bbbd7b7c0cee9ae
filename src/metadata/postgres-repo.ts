import { Pool, TypeOverrides, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import { StorageError } from '../errors/storage-error.js';
import type {
  AccessCursor,
  BlobEntry,
  BlobRecord,
  CachedTag,
  ImageEntry,
  Inventory,
  Lease,
  LeaseHolder,
  MetadataRepo,
  NewManifest,
  Pin,
  StoredManifest,
} from '../ports/metadata-repo.js';
import { HOUR_MS, type TrafficGroup, type TrafficRow, type TrafficTotal } from '../ports/traffic.js';
import { migratePostgres } from './postgres-migrate.js';
import { trafficAddSql, trafficAddValues, trafficTotalsSql } from './traffic-sql.js';
import { SQL, type StatementName } from './postgres-sql.js';
import { redactPostgresUrl } from './postgres-url.js';

export interface PostgresOptions {
  url: string;
  /** Connections in the pool (each replica has its own pool). */
  poolSize: number;
}

/** bigint (count, ids, ms times, sizes) and numeric as numbers: every value we store is far below 2^53. */
function numberTypes(): TypeOverrides {
  const types = new TypeOverrides();
  types.setTypeParser(20, Number); // int8
  types.setTypeParser(1700, Number); // numeric
  return types;
}

/** Deadlocks (two replicas flushing overlapping access times) and serialization failures: run again. */
const RETRIED = new Set(['40P01', '40001']);
const ATTEMPTS = 3;
/** A link whose blob was forgotten between our read and our insert (foreign_key_violation). */
const FOREIGN_KEY_VIOLATION = '23503';

/** The operation of the StorageError a failed open throws (the CLI says it in one line). */
export const POSTGRES_OPEN = 'open the PostgreSQL metadata database';

const TRAFFIC_ADD = trafficAddSql((i) => `$${i + 1}`);

function compareTrafficKeys(a: TrafficRow, b: TrafficRow): number {
  const ka = [a.hour, a.upstream, a.repository, a.principal];
  const kb = [b.hour, b.upstream, b.repository, b.principal];
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return (ka[i] as number | string) < (kb[i] as number | string) ? -1 : 1;
  return 0;
}

const codeOf = (err: unknown) => (err as { code?: unknown } | null)?.code;

/**
 * The metadata port on PostgreSQL (pg, pooled): the SQLite repo's semantics, statement for
 * statement, for replicas sharing one database. What SQLite does in a transaction is a
 * transaction here; the lease is a compare-and-set in one statement. Times come from the
 * repo's clock (as on SQLite), so replicas' clocks must agree to within the lease TTL.
 * Any database failure is a StorageError.
 */
export class PostgresMetadataRepo implements MetadataRepo {
  readonly #pool: Pool;
  readonly #now: () => number;
  readonly #repoIds = new Map<string, number>();
  #touchedBlobs = new Map<string, number>();
  #touchedManifests = new Map<string, number>();
  #closing: Promise<void> | undefined;

  /** Connects and brings the schema up to date (under an advisory lock: replicas starting together migrate once). */
  static async open(options: PostgresOptions, now: () => number = Date.now): Promise<PostgresMetadataRepo> {
    const pool = new Pool({
      connectionString: options.url,
      max: options.poolSize,
      types: numberTypes(),
      application_name: 'cargohold',
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
    });
    // An idle connection that breaks (a server restart) is dropped by the pool; the next query reconnects or fails.
    pool.on('error', () => undefined);
    try {
      await migratePostgres(pool);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new StorageError(`${POSTGRES_OPEN} ${redactPostgresUrl(options.url)}`, err);
    }
    return new PostgresMetadataRepo(pool, now);
  }

  private constructor(pool: Pool, now: () => number) {
    this.#pool = pool;
    this.#now = now;
  }

  #query<R extends QueryResultRow>(name: StatementName, values: unknown[], on: Pool | PoolClient = this.#pool): Promise<QueryResult<R>> {
    return on.query<R>({ name, text: SQL[name], values });
  }

  async #rows<R extends QueryResultRow>(name: StatementName, values: unknown[]): Promise<R[]> {
    return (await this.#query<R>(name, values)).rows;
  }

  /** Runs a database operation; every failure is a StorageError. */
  async #run<T>(operation: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      throw new StorageError(`metadata: ${operation}`, err);
    }
  }

  /** One transaction on one connection, run again (from the start) on a deadlock. */
  async #transaction<T>(body: (client: PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await body(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollback: Error) => {
          broken = rollback; // a connection that cannot roll back is not given back to the pool
        });
        if (attempt < ATTEMPTS && RETRIED.has(codeOf(err) as string)) continue;
        throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  async addTraffic(rows: readonly TrafficRow[]): Promise<void> {
    if (rows.length === 0) return;
    return this.#run('add traffic', () =>
      this.#transaction(async (client) => {
        // In key order, so replicas flushing overlapping rows lock them in the same order (no deadlock).
        const sorted = [...rows].map((r) => ({ ...r, hour: r.hour - (r.hour % HOUR_MS) })).sort(compareTrafficKeys);
        for (const row of sorted) await client.query({ name: 'trafficAdd', text: TRAFFIC_ADD, values: trafficAddValues(row) });
      }),
    );
  }

  trafficTotals(options: { since: number; until?: number | undefined; by: TrafficGroup }): Promise<TrafficTotal[]> {
    const since = options.since - (options.since % HOUR_MS);
    const until = options.until ?? Number.MAX_SAFE_INTEGER;
    return this.#run('read traffic', async () => {
      const result = await this.#pool.query<TrafficTotal>({
        name: `trafficTotals-${options.by}`,
        text: trafficTotalsSql(options.by, (i) => `$${i + 1}`),
        values: [since, until],
      });
      return result.rows;
    });
  }

  async #repositoryId(name: string): Promise<number> {
    const known = await this.#findRepositoryId(name);
    if (known !== undefined) return known;
    const inserted = await this.#rows<{ id: number }>('repoInsert', [name, this.#now()]);
    // Inserted by another replica meanwhile: ON CONFLICT returned nothing, and it is committed now.
    const id = inserted[0]?.id ?? (await this.#rows<{ id: number }>('repoId', [name]))[0]?.id;
    if (id === undefined) throw new Error(`repository ${name} neither inserted nor found`);
    this.#repoIds.set(name, id);
    return id;
  }

  /** Without creating: undefined for a repository never seen. Repositories are never deleted, so ids are cached. */
  async #findRepositoryId(name: string): Promise<number | undefined> {
    const cached = this.#repoIds.get(name);
    if (cached !== undefined) return cached;
    const id = (await this.#rows<{ id: number }>('repoId', [name]))[0]?.id;
    if (id !== undefined) this.#repoIds.set(name, id);
    return id;
  }

  findManifest(repository: string, digest: string): Promise<{ manifest: StoredManifest; linked: boolean } | undefined> {
    return this.#run('find manifest', async () => {
      const row = (await this.#rows<StoredManifest & { linked: boolean }>('manifestFind', [digest, repository]))[0];
      if (!row) return undefined;
      return { manifest: { digest: row.digest, mediaType: row.mediaType, content: row.content }, linked: row.linked };
    });
  }

  findTag(repository: string, tag: string): Promise<CachedTag | undefined> {
    return this.#run('find tag', async () => {
      const row = (await this.#rows<StoredManifest & { checkedAt: number }>('tagFind', [repository, tag]))[0];
      if (!row) return undefined;
      return { manifest: { digest: row.digest, mediaType: row.mediaType, content: row.content }, checkedAt: row.checkedAt };
    });
  }

  recordManifest(repository: string, manifest: NewManifest, tag?: string): Promise<void> {
    return this.#run('record manifest', async () => {
      const now = this.#now();
      const repoId = await this.#repositoryId(repository);
      await this.#transaction(async (client) => {
        const m = manifest;
        await this.#query('manifestInsert', [m.digest, m.mediaType, m.content.length, m.content, now], client);
        if (m.references.length > 0) {
          await this.#query('referencesInsert', [m.digest, m.references.map((r) => r.digest), m.references.map((r) => r.kind)], client);
        }
        await this.#query('manifestLink', [repoId, now, m.digest], client);
        if (tag !== undefined) await this.#query('tagPut', [repoId, tag, m.digest, now], client);
      });
    });
  }

  linkManifest(repository: string, digest: string): Promise<void> {
    return this.#run('link manifest', async () => {
      await this.#query('manifestLink', [await this.#repositoryId(repository), this.#now(), digest]);
    });
  }

  findReferrers(repository: string, subject: string): Promise<StoredManifest[]> {
    return this.#run('find referrers', () => this.#rows<StoredManifest>('referrers', [repository, subject]));
  }

  markTagChecked(repository: string, tag: string): Promise<void> {
    return this.#run('mark tag checked', async () => void (await this.#query('tagChecked', [this.#now(), repository, tag])));
  }

  forgetTag(repository: string, tag: string): Promise<void> {
    return this.#run('forget tag', async () => void (await this.#query('tagDelete', [repository, tag])));
  }

  listTags(repository: string, after: string, limit: number): Promise<string[] | undefined> {
    return this.#run('list tags', async () => {
      const repoId = await this.#findRepositoryId(repository);
      if (repoId === undefined) return undefined;
      return (await this.#rows<{ name: string }>('tagList', [repoId, after, Math.max(0, limit)])).map((r) => r.name);
    });
  }

  listRepositories(after: string, limit: number): Promise<string[]> {
    return this.#run('list repositories', async () =>
      (await this.#rows<{ name: string }>('repoList', [after, Math.max(0, limit)])).map((r) => r.name),
    );
  }

  findBlob(repository: string, digest: string): Promise<BlobRecord | undefined> {
    return this.#run('find blob', async () => {
      const row = (await this.#rows<{ size: number; linked: boolean }>('blobFind', [digest, repository]))[0];
      return row ? { size: row.size, linked: row.linked } : undefined;
    });
  }

  recordBlob(digest: string, size: number, repositories: Iterable<string>): Promise<void> {
    return this.#run('record blob', async () => {
      const now = this.#now();
      const repoIds: number[] = [];
      for (const name of repositories) repoIds.push(await this.#repositoryId(name));
      await this.#transaction(async (client) => {
        await this.#query('blobInsert', [digest, size, now], client);
        if (repoIds.length > 0) await this.#query('blobLinks', [repoIds, now, digest], client);
      });
    });
  }

  linkBlob(repository: string, digest: string): Promise<void> {
    return this.#run('link blob', async () => {
      const repoId = await this.#repositoryId(repository);
      try {
        await this.#query('blobLinks', [[repoId], this.#now(), digest]);
      } catch (err) {
        // Forgotten between the insert's read of the blob and its commit: nothing to link, as if not recorded.
        if (codeOf(err) !== FOREIGN_KEY_VIOLATION) throw err;
      }
    });
  }

  forgetBlob(digest: string): Promise<void> {
    return this.#run('forget blob', async () => void (await this.#query('blobDelete', [digest])));
  }

  inventory(): Promise<Inventory> {
    return this.#run('inventory', async () => (await this.#rows<Inventory>('inventory', []))[0]!);
  }

  listImages(repository?: string): Promise<ImageEntry[]> {
    return this.#run('list images', () => this.#rows<ImageEntry>('images', [repository ?? null]));
  }

  storeUsage(): Promise<{ blobs: number; bytes: number }> {
    return this.#run('store usage', async () => (await this.#rows<{ blobs: number; bytes: number }>('usage', []))[0]!);
  }

  listBlobs(after: string, limit: number): Promise<BlobEntry[]> {
    return this.#run('list blobs', () => this.#rows<BlobEntry>('blobList', [after, Math.max(0, limit)]));
  }

  evictionCandidates(options: { protectAccessedSince: number; after?: AccessCursor | undefined; limit: number }): Promise<BlobEntry[]> {
    return this.#run('list eviction candidates', () => {
      const after = options.after ?? { lastAccessAt: Number.MIN_SAFE_INTEGER, digest: '' };
      return this.#rows<BlobEntry>('evictable', [options.protectAccessedSince, after.lastAccessAt, after.digest, Math.max(0, options.limit)]);
    });
  }

  unreferencedBlobs(options: { createdBefore: number; after: string; limit: number }): Promise<BlobEntry[]> {
    return this.#run('list unreferenced blobs', () =>
      this.#rows<BlobEntry>('unreferenced', [options.createdBefore, options.after, Math.max(0, options.limit)]),
    );
  }

  touchBlob(digest: string): void {
    this.#touchedBlobs.set(digest, this.#now());
  }

  touchManifest(digest: string): void {
    this.#touchedManifests.set(digest, this.#now());
  }

  flushAccessTimes(): Promise<void> {
    if (this.#touchedBlobs.size === 0 && this.#touchedManifests.size === 0) return Promise.resolve();
    const blobs = this.#touchedBlobs;
    const manifests = this.#touchedManifests;
    this.#touchedBlobs = new Map();
    this.#touchedManifests = new Map();
    // In digest order, so replicas flushing the same rows lock them in the same order.
    const columns = (touched: Map<string, number>) => {
      const entries = [...touched].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return [entries.map(([digest]) => digest), entries.map(([, at]) => at)];
    };
    return this.#run('flush access times', () =>
      this.#transaction(async (client) => {
        if (blobs.size > 0) await this.#query('blobsTouch', columns(blobs), client);
        if (manifests.size > 0) await this.#query('manifestsTouch', columns(manifests), client);
      }),
    );
  }

  pin(repository: string, reference: string): Promise<boolean> {
    return this.#run('pin', async () => ((await this.#query('pinPut', [repository, reference, this.#now()])).rowCount ?? 0) > 0);
  }

  unpin(repository: string, reference: string): Promise<boolean> {
    return this.#run('unpin', async () => ((await this.#query('pinDelete', [repository, reference])).rowCount ?? 0) > 0);
  }

  listPins(): Promise<Pin[]> {
    return this.#run('list pins', () => this.#rows<Pin>('pinList', []));
  }

  /** The compare-and-set, then (when it did not take the lease) the lease that stopped it; again if that was released meanwhile. */
  async #take(name: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    for (;;) {
      const now = this.#now();
      const h = holder;
      const taken = await this.#rows<Lease>('leaseTake', [name, h.instance, h.endpoint, h.description, h.host, now, now + ttlMs]);
      const lease = taken[0] ?? (await this.#rows<Lease>('leaseGet', [name]))[0];
      if (lease) return lease;
    }
  }

  acquireLease(name: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    return this.#run('acquire lease', () => this.#take(name, holder, ttlMs));
  }

  takeOverLease(name: string, from: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    return this.#run('take over lease', async () => {
      const now = this.#now();
      const h = holder;
      const [taken] = await this.#rows<Lease>('leaseTakeOver', [name, from, h.instance, h.endpoint, h.description, h.host, now, now + ttlMs]);
      // Released meanwhile (no row), or expired: taken the usual way; someone else's live lease stays.
      return taken ?? (await this.#take(name, holder, ttlMs));
    });
  }

  renewLease(name: string, instance: string, ttlMs: number): Promise<boolean> {
    return this.#run('renew lease', async () => ((await this.#query('leaseRenew', [this.#now() + ttlMs, name, instance])).rowCount ?? 0) > 0);
  }

  releaseLease(name: string, instance: string): Promise<void> {
    return this.#run('release lease', async () => void (await this.#query('leaseRelease', [name, instance])));
  }

  currentLease(name: string): Promise<Lease | undefined> {
    return this.#run('read lease', async () => (await this.#rows<Lease>('leaseCurrent', [name, this.#now()]))[0]);
  }

  close(): Promise<void> {
    return (this.#closing ??= (async () => {
      await this.flushAccessTimes().catch(() => undefined);
      await this.#pool.end();
    })());
  }
}
