import type { ManifestReference } from '../oci/manifest.js';
import type { BlobRecord, CachedTag, Lease, LeaseHolder, MetadataRepo, NewManifest, Pin, StoredManifest } from '../ports/metadata-repo.js';

interface ManifestRow extends StoredManifest {
  references: readonly ManifestReference[];
  lastAccessAt: number;
}

interface TagRow {
  digest: string;
  checkedAt: number;
}

/** What the SQLite schema keeps per repository: its links and its tags. */
interface RepositoryRow {
  manifests: Set<string>;
  blobs: Set<string>;
  tags: Map<string, TagRow>;
}

/**
 * The metadata port in memory, for unit tests of the core: the same semantics as the
 * SQLite repo (src/metadata/sqlite-repo.ts), kept in maps, gone when the process ends.
 * Strings are ordered by UTF-16 code units, which for registry names and tags (ASCII)
 * is the byte order SQLite sorts by.
 */
export class MemoryMetadataRepo implements MetadataRepo {
  readonly #now: () => number;
  readonly #repositories = new Map<string, RepositoryRow>();
  readonly #manifests = new Map<string, ManifestRow>();
  readonly #blobs = new Map<string, { size: number; lastAccessAt: number }>();
  readonly #pins = new Map<string, Pin>();
  readonly #leases = new Map<string, Lease>();
  /** Batched like SQLite's, so a test sees the same "nothing written until flushed". */
  #touchedBlobs = new Map<string, number>();
  #touchedManifests = new Map<string, number>();

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The repository, created if never seen (as SQLite does for every write naming one). */
  #repository(name: string): RepositoryRow {
    let row = this.#repositories.get(name);
    if (!row) {
      row = { manifests: new Set(), blobs: new Set(), tags: new Map() };
      this.#repositories.set(name, row);
    }
    return row;
  }

  async findManifest(repository: string, digest: string): Promise<{ manifest: StoredManifest; linked: boolean } | undefined> {
    const row = this.#manifests.get(digest);
    if (!row) return undefined;
    return { manifest: storedManifest(row), linked: this.#repositories.get(repository)?.manifests.has(digest) ?? false };
  }

  async findTag(repository: string, tag: string): Promise<CachedTag | undefined> {
    const row = this.#repositories.get(repository)?.tags.get(tag);
    const manifest = row && this.#manifests.get(row.digest);
    return manifest && { manifest: storedManifest(manifest), checkedAt: row.checkedAt };
  }

  async recordManifest(repository: string, manifest: NewManifest, tag?: string): Promise<void> {
    const now = this.#now();
    const repo = this.#repository(repository);
    // A digest already stored keeps its bytes (they are the same bytes, verified).
    if (!this.#manifests.has(manifest.digest)) {
      this.#manifests.set(manifest.digest, {
        digest: manifest.digest,
        mediaType: manifest.mediaType,
        content: Buffer.from(manifest.content), // a copy: the caller's buffer may be reused
        references: [...manifest.references],
        lastAccessAt: now,
      });
    }
    repo.manifests.add(manifest.digest);
    if (tag !== undefined) repo.tags.set(tag, { digest: manifest.digest, checkedAt: now });
  }

  async linkManifest(repository: string, digest: string): Promise<void> {
    const repo = this.#repository(repository);
    // Links only what is stored (SQLite's foreign key refuses a link to an unknown digest).
    if (this.#manifests.has(digest)) repo.manifests.add(digest);
  }

  async markTagChecked(repository: string, tag: string): Promise<void> {
    const row = this.#repositories.get(repository)?.tags.get(tag);
    if (row) row.checkedAt = this.#now();
  }

  async forgetTag(repository: string, tag: string): Promise<void> {
    this.#repositories.get(repository)?.tags.delete(tag);
  }

  async listTags(repository: string, after: string, limit: number): Promise<string[] | undefined> {
    const repo = this.#repositories.get(repository);
    return repo && page(repo.tags.keys(), after, limit);
  }

  async listRepositories(after: string, limit: number): Promise<string[]> {
    return page(this.#repositories.keys(), after, limit);
  }

  async findBlob(repository: string, digest: string): Promise<BlobRecord | undefined> {
    const row = this.#blobs.get(digest);
    if (!row) return undefined;
    return { size: row.size, linked: this.#repositories.get(repository)?.blobs.has(digest) ?? false };
  }

  async recordBlob(digest: string, size: number, repositories: Iterable<string>): Promise<void> {
    const row = this.#blobs.get(digest);
    if (row) row.size = size;
    else this.#blobs.set(digest, { size, lastAccessAt: this.#now() });
    for (const name of repositories) this.#repository(name).blobs.add(digest);
  }

  async linkBlob(repository: string, digest: string): Promise<void> {
    const repo = this.#repository(repository);
    if (this.#blobs.has(digest)) repo.blobs.add(digest);
  }

  async forgetBlob(digest: string): Promise<void> {
    this.#blobs.delete(digest);
    for (const repo of this.#repositories.values()) repo.blobs.delete(digest);
  }

  async storeUsage(): Promise<{ blobs: number; bytes: number }> {
    let bytes = 0;
    for (const row of this.#blobs.values()) bytes += row.size;
    return { blobs: this.#blobs.size, bytes };
  }

  touchBlob(digest: string): void {
    this.#touchedBlobs.set(digest, this.#now());
  }

  touchManifest(digest: string): void {
    this.#touchedManifests.set(digest, this.#now());
  }

  async flushAccessTimes(): Promise<void> {
    const [blobs, manifests] = [this.#touchedBlobs, this.#touchedManifests];
    this.#touchedBlobs = new Map();
    this.#touchedManifests = new Map();
    // Access times only move forward; touches of digests not stored are dropped.
    for (const [digest, at] of blobs) {
      const row = this.#blobs.get(digest);
      if (row) row.lastAccessAt = Math.max(row.lastAccessAt, at);
    }
    for (const [digest, at] of manifests) {
      const row = this.#manifests.get(digest);
      if (row) row.lastAccessAt = Math.max(row.lastAccessAt, at);
    }
  }

  async pin(repository: string, reference: string): Promise<boolean> {
    const key = pinKey(repository, reference);
    if (this.#pins.has(key)) return false;
    this.#pins.set(key, { repository, reference, pinnedAt: this.#now() });
    return true;
  }

  async unpin(repository: string, reference: string): Promise<boolean> {
    return this.#pins.delete(pinKey(repository, reference));
  }

  async listPins(): Promise<Pin[]> {
    return [...this.#pins.values()]
      .sort((a, b) => compare(a.repository, b.repository) || compare(a.reference, b.reference))
      .map((pin) => ({ ...pin }));
  }

  async acquireLease(name: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    const now = this.#now();
    const lease = this.#leases.get(name);
    if (!lease || lease.instance === holder.instance || lease.expiresAt <= now) {
      // Re-acquiring our own lease extends it; it was acquired when we first took it.
      const acquiredAt = lease?.instance === holder.instance ? lease.acquiredAt : now;
      this.#leases.set(name, { ...leaseHolder(holder), acquiredAt, expiresAt: now + ttlMs });
    }
    return { ...(this.#leases.get(name) as Lease) };
  }

  async takeOverLease(name: string, from: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    const now = this.#now();
    const lease = this.#leases.get(name);
    // A lease released meanwhile or expired is free: taking it over is taking it.
    if (!lease || lease.instance === from || lease.expiresAt <= now)
      this.#leases.set(name, { ...leaseHolder(holder), acquiredAt: now, expiresAt: now + ttlMs });
    return { ...(this.#leases.get(name) as Lease) };
  }

  async renewLease(name: string, instance: string, ttlMs: number): Promise<boolean> {
    const now = this.#now();
    const lease = this.#leases.get(name);
    if (!lease || lease.instance !== instance) return false;
    lease.expiresAt = now + ttlMs;
    return true;
  }

  async releaseLease(name: string, instance: string): Promise<void> {
    if (this.#leases.get(name)?.instance === instance) this.#leases.delete(name);
  }

  async currentLease(name: string): Promise<Lease | undefined> {
    const lease = this.#leases.get(name);
    return lease && lease.expiresAt > this.#now() ? { ...lease } : undefined;
  }

  async close(): Promise<void> {
    await this.flushAccessTimes();
  }
}

/** The manifest as the port returns it: a copy, so a caller cannot change what is stored. */
function storedManifest(row: ManifestRow): StoredManifest {
  return { digest: row.digest, mediaType: row.mediaType, content: Buffer.from(row.content) };
}

function leaseHolder(holder: LeaseHolder): LeaseHolder {
  return { instance: holder.instance, endpoint: holder.endpoint, description: holder.description, host: holder.host };
}

function pinKey(repository: string, reference: string): string {
  return JSON.stringify([repository, reference]);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The names after `after`, in order, at most limit (the `last`/`n` paging of the distribution API). */
function page(names: Iterable<string>, after: string, limit: number): string[] {
  return [...names]
    .filter((name) => name > after)
    .sort(compare)
    .slice(0, Math.max(0, limit));
}
