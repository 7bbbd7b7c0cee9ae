import type { ManifestReference } from '../oci/manifest.js';
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
import { MemoryTraffic } from './memory-traffic.js';

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
  readonly #blobs = new Map<string, { size: number; createdAt: number; lastAccessAt: number }>();
  readonly #pins = new Map<string, Pin>();
  readonly #leases = new Map<string, Lease>();
  readonly #traffic = new MemoryTraffic();
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

  async findReferrers(repository: string, subject: string): Promise<StoredManifest[]> {
    const linked = this.#repositories.get(repository)?.manifests ?? new Set<string>();
    return [...linked]
      .map((digest) => this.#manifests.get(digest))
      .filter((row): row is ManifestRow => row !== undefined && row.references.some((r) => r.kind === 'subject' && r.digest === subject))
      .sort((a, b) => compare(a.digest, b.digest))
      .map(storedManifest);
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
    else {
      const now = this.#now();
      this.#blobs.set(digest, { size, createdAt: now, lastAccessAt: now });
    }
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

  async inventory(): Promise<Inventory> {
    let tags = 0;
    for (const repo of this.#repositories.values()) tags += repo.tags.size;
    const { blobs, bytes } = await this.storeUsage();
    return { repositories: this.#repositories.size, tags, manifests: this.#manifests.size, blobs, bytes };
  }

  async listImages(repository?: string): Promise<ImageEntry[]> {
    const out: ImageEntry[] = [];
    for (const [name, repo] of this.#repositories) {
      if (repository !== undefined && name !== repository) continue;
      for (const [tag, row] of repo.tags) {
        const manifest = this.#manifests.get(row.digest);
        if (!manifest) continue;
        let storedBytes = 0;
        for (const digest of this.#imageBlobs(row.digest)) storedBytes += this.#blobs.get(digest)?.size ?? 0;
        out.push({ repository: name, tag, digest: row.digest, mediaType: manifest.mediaType, storedBytes, lastAccessAt: manifest.lastAccessAt });
      }
    }
    return out.sort((a, b) => compare(a.repository, b.repository) || compare(a.tag, b.tag));
  }

  /** Config and layer digests under a manifest, through indexes. */
  #imageBlobs(root: string): Set<string> {
    const roots = [root];
    const seen = new Set<string>();
    const blobs = new Set<string>();
    while (roots.length > 0) {
      const digest = roots.pop() as string;
      if (seen.has(digest)) continue;
      seen.add(digest);
      for (const ref of this.#manifests.get(digest)?.references ?? []) {
        if (ref.kind === 'manifest') roots.push(ref.digest);
        else if (ref.kind === 'config' || ref.kind === 'layer') blobs.add(ref.digest);
      }
    }
    return blobs;
  }

  async storeUsage(): Promise<{ blobs: number; bytes: number }> {
    let bytes = 0;
    for (const row of this.#blobs.values()) bytes += row.size;
    return { blobs: this.#blobs.size, bytes };
  }

  async listBlobs(after: string, limit: number): Promise<BlobEntry[]> {
    return this.#entries()
      .filter((e) => e.digest > after)
      .sort((a, b) => compare(a.digest, b.digest))
      .slice(0, Math.max(0, limit));
  }

  async evictionCandidates(options: { protectAccessedSince: number; after?: AccessCursor | undefined; limit: number }): Promise<BlobEntry[]> {
    const kept = this.#keptBlobs(options.protectAccessedSince);
    const after = options.after;
    return this.#entries()
      .filter((e) => !kept.has(e.digest))
      .filter((e) => !after || e.lastAccessAt > after.lastAccessAt || (e.lastAccessAt === after.lastAccessAt && e.digest > after.digest))
      .sort((a, b) => a.lastAccessAt - b.lastAccessAt || compare(a.digest, b.digest))
      .slice(0, Math.max(0, options.limit));
  }

  async unreferencedBlobs(options: { createdBefore: number; after: string; limit: number }): Promise<BlobEntry[]> {
    const referenced = new Set<string>();
    for (const m of this.#manifests.values()) for (const ref of m.references) if (ref.kind !== 'subject') referenced.add(ref.digest);
    return this.#entries()
      .filter((e) => e.createdAt < options.createdBefore && e.digest > options.after && !referenced.has(e.digest))
      .sort((a, b) => compare(a.digest, b.digest))
      .slice(0, Math.max(0, options.limit));
  }

  #entries(): BlobEntry[] {
    return [...this.#blobs].map(([digest, row]) => ({ digest, size: row.size, createdAt: row.createdAt, lastAccessAt: row.lastAccessAt }));
  }

  /** Config and layer blobs of pinned images and of manifests accessed since `since`, through indexes. */
  #keptBlobs(since: number): Set<string> {
    const roots: string[] = [];
    for (const pin of this.#pins.values()) {
      if (pin.reference.includes(':')) roots.push(pin.reference);
      else {
        const tag = this.#repositories.get(pin.repository)?.tags.get(pin.reference);
        if (tag) roots.push(tag.digest);
      }
    }
    for (const m of this.#manifests.values()) if (m.lastAccessAt >= since) roots.push(m.digest);
    const kept = new Set<string>();
    for (const root of roots) for (const digest of this.#imageBlobs(root)) kept.add(digest);
    return kept;
  }

  touchBlob(digest: string): void {
    this.#touchedBlobs.set(digest, this.#now());
  }

  touchManifest(digest: string): void {
    this.#touchedManifests.set(digest, this.#now());
  }

  async addTraffic(rows: readonly TrafficRow[]): Promise<void> {
    this.#traffic.add(rows);
  }

  async trafficTotals(options: { since: number; until?: number | undefined; by: TrafficGroup }): Promise<TrafficTotal[]> {
    return this.#traffic.totals(options.since, options.until ?? Number.MAX_SAFE_INTEGER, options.by);
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
