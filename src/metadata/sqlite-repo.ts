import type { Statement } from 'better-sqlite3';
import { StorageError } from '../errors/storage-error.js';
import type {
  AccessCursor,
  BlobEntry,
  BlobRecord,
  ImageEntry,
  Inventory,
  CachedTag,
  Lease,
  LeaseHolder,
  MetadataRepo,
  NewManifest,
  Pin,
  StoredManifest,
} from '../ports/metadata-repo.js';
import type { TrafficGroup, TrafficRow, TrafficTotal } from '../ports/traffic.js';
import { openDatabase, type Db } from './db.js';
import { SqliteTraffic } from './sqlite-traffic.js';

type Row = Record<string, unknown>;

const BLOB_ENTRY = 'digest, size, created_at AS createdAt, last_access_at AS lastAccessAt';

/**
 * The metadata port on SQLite (better-sqlite3: synchronous, so every method is one quick
 * call on prepared statements; they are prepared once). A failure of the database file
 * (full, read-only, I/O) is a StorageError.
 */
export class SqliteMetadataRepo implements MetadataRepo {
  readonly #db: Db;
  readonly #now: () => number;
  readonly #repoIds = new Map<string, number>();
  readonly #s: Record<string, Statement>;
  /** Access times are batched: a warm hit must not cost a write transaction. */
  #touchedBlobs = new Map<string, number>();
  #touchedManifests = new Map<string, number>();
  readonly #traffic: SqliteTraffic;

  static open(path: string, now: () => number = Date.now): SqliteMetadataRepo {
    let db: Db;
    try {
      db = openDatabase(path);
    } catch (err) {
      throw new StorageError(`opening the metadata database ${path}`, err);
    }
    return new SqliteMetadataRepo(db, now);
  }

  constructor(db: Db, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
    this.#traffic = new SqliteTraffic(db);
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      repoId: p('SELECT id FROM repositories WHERE name = ?'),
      repoInsert: p('INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING'),
      repoList: p('SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?'),
      manifestGet: p('SELECT digest, media_type AS mediaType, content FROM manifests WHERE digest = ?'),
      manifestInsert: p(
        'INSERT INTO manifests (digest, media_type, size, content, created_at, last_access_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(digest) DO NOTHING',
      ),
      referenceInsert: p('INSERT OR IGNORE INTO manifest_references (manifest_digest, child_digest, kind) VALUES (?, ?, ?)'),
      manifestLinked: p('SELECT 1 FROM repository_manifests WHERE repository_id = ? AND manifest_digest = ?'),
      // Linking a digest not (or no longer) recorded does nothing: the caller found it a moment ago, GC may have raced it.
      manifestLink: p(
        'INSERT OR IGNORE INTO repository_manifests (repository_id, manifest_digest, linked_at) SELECT ?, digest, ? FROM manifests WHERE digest = ?',
      ),
      // manifest_references_child indexes the subject look-up.
      referrers: p(
        `SELECT m.digest AS digest, m.media_type AS mediaType, m.content AS content FROM manifest_references r
         JOIN manifests m ON m.digest = r.manifest_digest
         JOIN repository_manifests rm ON rm.manifest_digest = m.digest AND rm.repository_id = ?
         WHERE r.child_digest = ? AND r.kind = 'subject' ORDER BY m.digest`,
      ),
      manifestTouch: p('UPDATE manifests SET last_access_at = max(last_access_at, ?) WHERE digest = ?'),
      tagGet: p(
        `SELECT m.digest AS digest, m.media_type AS mediaType, m.content AS content, t.checked_at AS checkedAt
         FROM tags t JOIN manifests m ON m.digest = t.manifest_digest WHERE t.repository_id = ? AND t.name = ?`,
      ),
      tagPut: p(
        `INSERT INTO tags (repository_id, name, manifest_digest, fetched_at, checked_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, fetched_at = excluded.fetched_at, checked_at = excluded.checked_at`,
      ),
      tagChecked: p('UPDATE tags SET checked_at = ? WHERE repository_id = ? AND name = ?'),
      tagDelete: p('DELETE FROM tags WHERE repository_id = ? AND name = ?'),
      tagList: p('SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?'),
      blobGet: p('SELECT size FROM blobs WHERE digest = ?'),
      blobInsert: p(
        'INSERT INTO blobs (digest, size, created_at, last_access_at) VALUES (?, ?, ?, ?) ON CONFLICT(digest) DO UPDATE SET size = excluded.size',
      ),
      blobDelete: p('DELETE FROM blobs WHERE digest = ?'),
      blobTouch: p('UPDATE blobs SET last_access_at = max(last_access_at, ?) WHERE digest = ?'),
      blobLinked: p('SELECT 1 FROM repository_blobs WHERE repository_id = ? AND blob_digest = ?'),
      blobLink: p('INSERT OR IGNORE INTO repository_blobs (repository_id, blob_digest, linked_at) SELECT ?, digest, ? FROM blobs WHERE digest = ?'),
      inventory: p(
        `SELECT (SELECT count(*) FROM repositories) AS repositories, (SELECT count(*) FROM tags) AS tags,
                (SELECT count(*) FROM manifests) AS manifests, (SELECT count(*) FROM blobs) AS blobs, (SELECT coalesce(sum(size), 0) FROM blobs) AS bytes`,
      ),
      images: p(
        `WITH RECURSIVE
           tagged(repository, tag, digest) AS (
             SELECT r.name, t.name, t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE @repository IS NULL OR r.name = @repository),
           tree(repository, tag, digest) AS (
             SELECT repository, tag, digest FROM tagged
             UNION SELECT tr.repository, tr.tag, mr.child_digest FROM manifest_references mr JOIN tree tr ON mr.manifest_digest = tr.digest WHERE mr.kind = 'manifest'),
           stored(repository, tag, bytes) AS (
             SELECT repository, tag, sum(size) FROM (
               SELECT DISTINCT tr.repository, tr.tag, b.digest, b.size FROM tree tr
               JOIN manifest_references mr ON mr.manifest_digest = tr.digest AND mr.kind IN ('config', 'layer')
               JOIN blobs b ON b.digest = mr.child_digest)
             GROUP BY repository, tag)
         SELECT tg.repository, tg.tag, tg.digest, m.media_type AS mediaType, coalesce(s.bytes, 0) AS storedBytes, m.last_access_at AS lastAccessAt
         FROM tagged tg JOIN manifests m ON m.digest = tg.digest LEFT JOIN stored s ON s.repository = tg.repository AND s.tag = tg.tag
         ORDER BY tg.repository, tg.tag`,
      ),
      usage: p('SELECT count(*) AS blobs, coalesce(sum(size), 0) AS bytes FROM blobs'),
      blobList: p(`SELECT ${BLOB_ENTRY} FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?`),
      evictable: p(
        `WITH RECURSIVE
           roots(digest) AS (
             SELECT t.manifest_digest FROM pins p JOIN repositories r ON r.name = p.repository JOIN tags t ON t.repository_id = r.id AND t.name = p.reference
             UNION SELECT p.reference FROM pins p WHERE p.reference LIKE '%:%'
             UNION SELECT digest FROM manifests WHERE last_access_at >= @since),
           kept(digest) AS (
             SELECT digest FROM roots
             UNION SELECT mr.child_digest FROM manifest_references mr JOIN kept k ON mr.manifest_digest = k.digest WHERE mr.kind = 'manifest')
         SELECT ${BLOB_ENTRY} FROM blobs b
         WHERE (b.last_access_at, b.digest) > (@afterAt, @afterDigest)
           AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN kept k ON k.digest = mr.manifest_digest
                           WHERE mr.child_digest = b.digest AND mr.kind IN ('config', 'layer'))
         ORDER BY b.last_access_at, b.digest LIMIT @limit`,
      ),
      unreferenced: p(
        `SELECT ${BLOB_ENTRY} FROM blobs b
         WHERE b.created_at < ? AND b.digest > ?
           AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest AND mr.kind <> 'subject')
         ORDER BY b.digest LIMIT ?`,
      ),
      pinPut: p('INSERT INTO pins (repository, reference, pinned_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      pinDelete: p('DELETE FROM pins WHERE repository = ? AND reference = ?'),
      pinList: p('SELECT repository, reference, pinned_at AS pinnedAt FROM pins ORDER BY repository, reference'),
      leaseGet: p('SELECT instance, endpoint, description, host, acquired_at AS acquiredAt, expires_at AS expiresAt FROM leases WHERE name = ?'),
      leaseTake: p(
        `INSERT INTO leases (name, instance, endpoint, description, host, acquired_at, expires_at) VALUES (@name, @instance, @endpoint, @description, @host, @now, @expires)
         ON CONFLICT(name) DO UPDATE SET instance = excluded.instance, endpoint = excluded.endpoint, description = excluded.description, host = excluded.host,
           acquired_at = CASE WHEN leases.instance = excluded.instance THEN leases.acquired_at ELSE excluded.acquired_at END,
           expires_at = excluded.expires_at
         WHERE leases.instance = excluded.instance OR leases.expires_at <= @now`,
      ),
      leaseTakeOver: p(
        `UPDATE leases SET instance = @instance, endpoint = @endpoint, description = @description, host = @host, acquired_at = @now, expires_at = @expires
         WHERE name = @name AND instance = @from`,
      ),
      leaseRenew: p('UPDATE leases SET expires_at = ? WHERE name = ? AND instance = ?'),
      leaseRelease: p('DELETE FROM leases WHERE name = ? AND instance = ?'),
    };
  }

  /** Runs a database operation; failures of the file are StorageErrors. */
  #run<T>(operation: string, body: () => T): Promise<T> {
    try {
      return Promise.resolve(body());
    } catch (err) {
      return Promise.reject(new StorageError(`metadata: ${operation}`, err));
    }
  }

  #repositoryId(name: string): number {
    const cached = this.#repoIds.get(name);
    if (cached !== undefined) return cached;
    this.#s.repoInsert!.run(name, this.#now());
    const row = this.#s.repoId!.get(name) as { id: number };
    this.#repoIds.set(name, row.id);
    return row.id;
  }

  /** Without creating: undefined for a repository never seen. */
  #findRepositoryId(name: string): number | undefined {
    const cached = this.#repoIds.get(name);
    if (cached !== undefined) return cached;
    const row = this.#s.repoId!.get(name) as { id: number } | undefined;
    if (row) this.#repoIds.set(name, row.id);
    return row?.id;
  }

  findManifest(repository: string, digest: string): Promise<{ manifest: StoredManifest; linked: boolean } | undefined> {
    return this.#run('find manifest', () => {
      const manifest = this.#s.manifestGet!.get(digest) as StoredManifest | undefined;
      if (!manifest) return undefined;
      const repoId = this.#findRepositoryId(repository);
      return { manifest, linked: repoId !== undefined && this.#s.manifestLinked!.get(repoId, digest) !== undefined };
    });
  }

  findTag(repository: string, tag: string): Promise<CachedTag | undefined> {
    return this.#run('find tag', () => {
      const repoId = this.#findRepositoryId(repository);
      const row = repoId === undefined ? undefined : (this.#s.tagGet!.get(repoId, tag) as (StoredManifest & { checkedAt: number }) | undefined);
      if (!row) return undefined;
      return { manifest: { digest: row.digest, mediaType: row.mediaType, content: row.content }, checkedAt: row.checkedAt };
    });
  }

  recordManifest(repository: string, manifest: NewManifest, tag?: string): Promise<void> {
    return this.#run('record manifest', () => {
      const now = this.#now();
      const repoId = this.#repositoryId(repository);
      this.#db.transaction(() => {
        this.#s.manifestInsert!.run(manifest.digest, manifest.mediaType, manifest.content.length, manifest.content, now, now);
        for (const ref of manifest.references) this.#s.referenceInsert!.run(manifest.digest, ref.digest, ref.kind);
        this.#s.manifestLink!.run(repoId, now, manifest.digest);
        if (tag !== undefined) this.#s.tagPut!.run(repoId, tag, manifest.digest, now, now);
      })();
    });
  }

  linkManifest(repository: string, digest: string): Promise<void> {
    return this.#run('link manifest', () => void this.#s.manifestLink!.run(this.#repositoryId(repository), this.#now(), digest));
  }

  findReferrers(repository: string, subject: string): Promise<StoredManifest[]> {
    return this.#run('find referrers', () => {
      const repoId = this.#findRepositoryId(repository);
      return repoId === undefined ? [] : (this.#s.referrers!.all(repoId, subject) as StoredManifest[]);
    });
  }

  markTagChecked(repository: string, tag: string): Promise<void> {
    return this.#run('mark tag checked', () => {
      const repoId = this.#findRepositoryId(repository);
      if (repoId !== undefined) this.#s.tagChecked!.run(this.#now(), repoId, tag);
    });
  }

  forgetTag(repository: string, tag: string): Promise<void> {
    return this.#run('forget tag', () => {
      const repoId = this.#findRepositoryId(repository);
      if (repoId !== undefined) this.#s.tagDelete!.run(repoId, tag);
    });
  }

  listTags(repository: string, after: string, limit: number): Promise<string[] | undefined> {
    return this.#run('list tags', () => {
      const repoId = this.#findRepositoryId(repository);
      if (repoId === undefined) return undefined;
      return (this.#s.tagList!.all(repoId, after, limit) as Array<{ name: string }>).map((r) => r.name);
    });
  }

  listRepositories(after: string, limit: number): Promise<string[]> {
    return this.#run('list repositories', () => (this.#s.repoList!.all(after, limit) as Array<{ name: string }>).map((r) => r.name));
  }

  findBlob(repository: string, digest: string): Promise<BlobRecord | undefined> {
    return this.#run('find blob', () => {
      const row = this.#s.blobGet!.get(digest) as { size: number } | undefined;
      if (!row) return undefined;
      const repoId = this.#findRepositoryId(repository);
      return { size: row.size, linked: repoId !== undefined && this.#s.blobLinked!.get(repoId, digest) !== undefined };
    });
  }

  recordBlob(digest: string, size: number, repositories: Iterable<string>): Promise<void> {
    return this.#run('record blob', () => {
      const now = this.#now();
      const repoIds = [...repositories].map((r) => this.#repositoryId(r));
      this.#db.transaction(() => {
        this.#s.blobInsert!.run(digest, size, now, now);
        for (const id of repoIds) this.#s.blobLink!.run(id, now, digest);
      })();
    });
  }

  linkBlob(repository: string, digest: string): Promise<void> {
    return this.#run('link blob', () => void this.#s.blobLink!.run(this.#repositoryId(repository), this.#now(), digest));
  }

  forgetBlob(digest: string): Promise<void> {
    return this.#run('forget blob', () => void this.#s.blobDelete!.run(digest));
  }

  inventory(): Promise<Inventory> {
    return this.#run('inventory', () => this.#s.inventory!.get() as Inventory);
  }

  listImages(repository?: string): Promise<ImageEntry[]> {
    return this.#run('list images', () => this.#s.images!.all({ repository: repository ?? null }) as ImageEntry[]);
  }

  storeUsage(): Promise<{ blobs: number; bytes: number }> {
    return this.#run('store usage', () => this.#s.usage!.get() as { blobs: number; bytes: number });
  }

  listBlobs(after: string, limit: number): Promise<BlobEntry[]> {
    return this.#run('list blobs', () => this.#s.blobList!.all(after, Math.max(0, limit)) as BlobEntry[]);
  }

  evictionCandidates(options: { protectAccessedSince: number; after?: AccessCursor | undefined; limit: number }): Promise<BlobEntry[]> {
    return this.#run('list eviction candidates', () => {
      const after = options.after ?? { lastAccessAt: Number.MIN_SAFE_INTEGER, digest: '' };
      return this.#s.evictable!.all({
        since: options.protectAccessedSince,
        afterAt: after.lastAccessAt,
        afterDigest: after.digest,
        limit: Math.max(0, options.limit),
      }) as BlobEntry[];
    });
  }

  unreferencedBlobs(options: { createdBefore: number; after: string; limit: number }): Promise<BlobEntry[]> {
    return this.#run(
      'list unreferenced blobs',
      () => this.#s.unreferenced!.all(options.createdBefore, options.after, Math.max(0, options.limit)) as BlobEntry[],
    );
  }

  touchBlob(digest: string): void {
    this.#touchedBlobs.set(digest, this.#now());
  }

  touchManifest(digest: string): void {
    this.#touchedManifests.set(digest, this.#now());
  }

  addTraffic(rows: readonly TrafficRow[]): Promise<void> {
    return this.#run('add traffic', () => this.#traffic.add(rows));
  }

  trafficTotals(options: { since: number; until?: number | undefined; by: TrafficGroup }): Promise<TrafficTotal[]> {
    return this.#run('read traffic', () => this.#traffic.totals(options.since, options.until ?? Number.MAX_SAFE_INTEGER, options.by));
  }

  flushAccessTimes(): Promise<void> {
    if (this.#touchedBlobs.size === 0 && this.#touchedManifests.size === 0) return Promise.resolve();
    const blobs = this.#touchedBlobs;
    const manifests = this.#touchedManifests;
    this.#touchedBlobs = new Map();
    this.#touchedManifests = new Map();
    return this.#run('flush access times', () =>
      this.#db.transaction(() => {
        for (const [digest, at] of blobs) this.#s.blobTouch!.run(at, digest);
        for (const [digest, at] of manifests) this.#s.manifestTouch!.run(at, digest);
      })(),
    );
  }

  pin(repository: string, reference: string): Promise<boolean> {
    return this.#run('pin', () => this.#s.pinPut!.run(repository, reference, this.#now()).changes > 0);
  }

  unpin(repository: string, reference: string): Promise<boolean> {
    return this.#run('unpin', () => this.#s.pinDelete!.run(repository, reference).changes > 0);
  }

  listPins(): Promise<Pin[]> {
    return this.#run('list pins', () => this.#s.pinList!.all() as Pin[]);
  }

  acquireLease(name: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    return this.#run('acquire lease', () => {
      const now = this.#now();
      this.#s.leaseTake!.run({ name, ...holder, now, expires: now + ttlMs });
      return this.#s.leaseGet!.get(name) as Lease;
    });
  }

  takeOverLease(name: string, from: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    return this.#run('take over lease', () => {
      const now = this.#now();
      this.#s.leaseTakeOver!.run({ name, from, ...holder, now, expires: now + ttlMs });
      // Released meanwhile (no row), or expired: taken the usual way; someone else's live lease stays.
      this.#s.leaseTake!.run({ name, ...holder, now, expires: now + ttlMs });
      return this.#s.leaseGet!.get(name) as Lease;
    });
  }

  renewLease(name: string, instance: string, ttlMs: number): Promise<boolean> {
    return this.#run('renew lease', () => {
      const now = this.#now();
      return this.#s.leaseRenew!.run(now + ttlMs, name, instance).changes > 0;
    });
  }

  releaseLease(name: string, instance: string): Promise<void> {
    return this.#run('release lease', () => void this.#s.leaseRelease!.run(name, instance));
  }

  currentLease(name: string): Promise<Lease | undefined> {
    return this.#run('read lease', () => {
      const row = this.#s.leaseGet!.get(name) as (Lease & Row) | undefined;
      return row && row.expiresAt > this.#now() ? row : undefined;
    });
  }

  async close(): Promise<void> {
    await this.flushAccessTimes().catch(() => undefined);
    this.#db.close();
  }
}
