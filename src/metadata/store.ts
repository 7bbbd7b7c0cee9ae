import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { ManifestReference } from '../oci/manifest.js';

export interface ManifestRow {
  digest: string;
  mediaType: string;
  size: number;
  content: Buffer;
}

export interface TagRow {
  digest: string;
  fetchedAt: number;
  checkedAt: number;
}

export interface BlobRow {
  digest: string;
  size: number;
}

/**
 * All metadata access, as prepared statements (prepared once, reused on every request).
 * Repository names are the normalised ones (library/node). Times are ms since the epoch.
 */
export class MetadataStore {
  readonly db: Db;
  readonly #now: () => number;
  readonly #repoIds = new Map<string, number>();
  readonly #s: Record<string, Statement>;
  /** Access times are batched: a warm hit must not cost a write transaction. */
  #touchedBlobs = new Map<string, number>();
  #touchedManifests = new Map<string, number>();

  constructor(db: Db, now: () => number = Date.now) {
    this.db = db;
    this.#now = now;
    const p = (sql: string) => db.prepare(sql);
    this.#s = {
      repoId: p('SELECT id FROM repositories WHERE name = ?'),
      repoInsert: p('INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING'),
      repoList: p('SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?'),
      manifestGet: p('SELECT digest, media_type AS mediaType, size, content FROM manifests WHERE digest = ?'),
      manifestInsert: p(
        'INSERT INTO manifests (digest, media_type, size, content, created_at, last_access_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(digest) DO NOTHING',
      ),
      referenceInsert: p('INSERT OR IGNORE INTO manifest_references (manifest_digest, child_digest, kind) VALUES (?, ?, ?)'),
      manifestLinked: p('SELECT 1 FROM repository_manifests WHERE repository_id = ? AND manifest_digest = ?'),
      manifestLink: p('INSERT OR IGNORE INTO repository_manifests (repository_id, manifest_digest, linked_at) VALUES (?, ?, ?)'),
      manifestTouch: p('UPDATE manifests SET last_access_at = max(last_access_at, ?) WHERE digest = ?'),
      tagGet: p('SELECT manifest_digest AS digest, fetched_at AS fetchedAt, checked_at AS checkedAt FROM tags WHERE repository_id = ? AND name = ?'),
      tagPut: p(
        `INSERT INTO tags (repository_id, name, manifest_digest, fetched_at, checked_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, fetched_at = excluded.fetched_at, checked_at = excluded.checked_at`,
      ),
      tagChecked: p('UPDATE tags SET checked_at = ? WHERE repository_id = ? AND name = ?'),
      tagDelete: p('DELETE FROM tags WHERE repository_id = ? AND name = ?'),
      tagList: p('SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?'),
      blobGet: p('SELECT digest, size FROM blobs WHERE digest = ?'),
      blobInsert: p(
        'INSERT INTO blobs (digest, size, created_at, last_access_at) VALUES (?, ?, ?, ?) ON CONFLICT(digest) DO UPDATE SET size = excluded.size',
      ),
      blobDelete: p('DELETE FROM blobs WHERE digest = ?'),
      blobTouch: p('UPDATE blobs SET last_access_at = max(last_access_at, ?) WHERE digest = ?'),
      blobLinked: p('SELECT 1 FROM repository_blobs WHERE repository_id = ? AND blob_digest = ?'),
      blobLink: p('INSERT OR IGNORE INTO repository_blobs (repository_id, blob_digest, linked_at) VALUES (?, ?, ?)'),
      pinPut: p('INSERT INTO pins (repository, reference, pinned_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      pinDelete: p('DELETE FROM pins WHERE repository = ? AND reference = ?'),
      pinList: p('SELECT repository, reference, pinned_at AS pinnedAt FROM pins ORDER BY repository, reference'),
    };
  }

  /** The repository's id, created on first use. */
  repositoryId(name: string): number {
    const cached = this.#repoIds.get(name);
    if (cached !== undefined) return cached;
    this.#s.repoInsert!.run(name, this.#now());
    const row = this.#s.repoId!.get(name) as { id: number };
    this.#repoIds.set(name, row.id);
    return row.id;
  }

  /** Without creating: undefined for a repository never seen. */
  findRepositoryId(name: string): number | undefined {
    const cached = this.#repoIds.get(name);
    if (cached !== undefined) return cached;
    const row = this.#s.repoId!.get(name) as { id: number } | undefined;
    if (row) this.#repoIds.set(name, row.id);
    return row?.id;
  }

  listRepositories(after: string, limit: number): string[] {
    return (this.#s.repoList!.all(after, limit) as Array<{ name: string }>).map((r) => r.name);
  }

  getManifest(digest: string): ManifestRow | undefined {
    return this.#s.manifestGet!.get(digest) as ManifestRow | undefined;
  }

  /** Stores a verified manifest with its references and links it to the repository, in one transaction. */
  putManifest(repository: string, manifest: { digest: string; mediaType: string; content: Buffer; references: ManifestReference[] }): void {
    const now = this.#now();
    const repoId = this.repositoryId(repository);
    this.db.transaction(() => {
      this.#s.manifestInsert!.run(manifest.digest, manifest.mediaType, manifest.content.length, manifest.content, now, now);
      for (const ref of manifest.references) this.#s.referenceInsert!.run(manifest.digest, ref.digest, ref.kind);
      this.#s.manifestLink!.run(repoId, manifest.digest, now);
    })();
  }

  isManifestLinked(repository: string, digest: string): boolean {
    const repoId = this.findRepositoryId(repository);
    return repoId !== undefined && this.#s.manifestLinked!.get(repoId, digest) !== undefined;
  }

  linkManifest(repository: string, digest: string): void {
    this.#s.manifestLink!.run(this.repositoryId(repository), digest, this.#now());
  }

  getTag(repository: string, tag: string): TagRow | undefined {
    const repoId = this.findRepositoryId(repository);
    if (repoId === undefined) return undefined;
    return this.#s.tagGet!.get(repoId, tag) as TagRow | undefined;
  }

  putTag(repository: string, tag: string, digest: string): void {
    const now = this.#now();
    this.#s.tagPut!.run(this.repositoryId(repository), tag, digest, now, now);
  }

  markTagChecked(repository: string, tag: string): void {
    this.#s.tagChecked!.run(this.#now(), this.repositoryId(repository), tag);
  }

  deleteTag(repository: string, tag: string): void {
    const repoId = this.findRepositoryId(repository);
    if (repoId !== undefined) this.#s.tagDelete!.run(repoId, tag);
  }

  listTags(repository: string, after: string, limit: number): string[] | undefined {
    const repoId = this.findRepositoryId(repository);
    if (repoId === undefined) return undefined;
    return (this.#s.tagList!.all(repoId, after, limit) as Array<{ name: string }>).map((r) => r.name);
  }

  getBlob(digest: string): BlobRow | undefined {
    return this.#s.blobGet!.get(digest) as BlobRow | undefined;
  }

  /** Records a verified blob file and links it to the repositories that fetched it. */
  putBlob(digest: string, size: number, repositories: Iterable<string>): void {
    const now = this.#now();
    const repoIds = [...repositories].map((r) => this.repositoryId(r));
    this.db.transaction(() => {
      this.#s.blobInsert!.run(digest, size, now, now);
      for (const id of repoIds) this.#s.blobLink!.run(id, digest, now);
    })();
  }

  deleteBlob(digest: string): void {
    this.#s.blobDelete!.run(digest);
  }

  isBlobLinked(repository: string, digest: string): boolean {
    const repoId = this.findRepositoryId(repository);
    return repoId !== undefined && this.#s.blobLinked!.get(repoId, digest) !== undefined;
  }

  linkBlob(repository: string, digest: string): void {
    this.#s.blobLink!.run(this.repositoryId(repository), digest, this.#now());
  }

  pin(repository: string, reference: string): void {
    this.#s.pinPut!.run(repository, reference, this.#now());
  }

  /** True when a pin was removed. */
  unpin(repository: string, reference: string): boolean {
    return this.#s.pinDelete!.run(repository, reference).changes > 0;
  }

  listPins(): Array<{ repository: string; reference: string; pinnedAt: number }> {
    return this.#s.pinList!.all() as Array<{ repository: string; reference: string; pinnedAt: number }>;
  }

  touchBlob(digest: string): void {
    this.#touchedBlobs.set(digest, this.#now());
  }

  touchManifest(digest: string): void {
    this.#touchedManifests.set(digest, this.#now());
  }

  /** Writes the batched access times in one transaction. */
  flushAccessTimes(): void {
    if (this.#touchedBlobs.size === 0 && this.#touchedManifests.size === 0) return;
    const blobs = this.#touchedBlobs;
    const manifests = this.#touchedManifests;
    this.#touchedBlobs = new Map();
    this.#touchedManifests = new Map();
    this.db.transaction(() => {
      for (const [digest, at] of blobs) this.#s.blobTouch!.run(at, digest);
      for (const [digest, at] of manifests) this.#s.manifestTouch!.run(at, digest);
    })();
  }
}
