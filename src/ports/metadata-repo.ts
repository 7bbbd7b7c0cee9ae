import type { ManifestReference } from '../oci/manifest.js';
import type { TrafficGroup, TrafficRow, TrafficTotal } from './traffic.js';

/** A manifest as stored: the exact bytes received, with the media type they were served as. */
export interface StoredManifest {
  digest: string;
  mediaType: string;
  content: Buffer;
}

export interface NewManifest extends StoredManifest {
  /** What the manifest points at (child manifests, config, layers), for GC and warm. */
  references: readonly ManifestReference[];
}

export interface CachedTag {
  manifest: StoredManifest;
  /** When the upstream last confirmed the tag (ms since the epoch). */
  checkedAt: number;
}

export interface BlobRecord {
  size: number;
  /** The upstream confirmed this repository holds the blob (nobody reads another repository's blob by guessing digests). */
  linked: boolean;
}

/** A stored blob as maintenance sees it (eviction, GC, verify). */
export interface BlobEntry {
  digest: string;
  size: number;
  createdAt: number;
  lastAccessAt: number;
}

/** Where a listing in last-access order goes on from: after this blob. */
export interface AccessCursor {
  lastAccessAt: number;
  digest: string;
}

/** A tagged image as `cargohold ls` shows it. */
export interface ImageEntry {
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  /** Bytes of its config and layers (all platforms of an index) stored here now. */
  storedBytes: number;
  /** When its manifest was last pulled. */
  lastAccessAt: number;
}

/** What the store holds, counted. */
export interface Inventory {
  repositories: number;
  tags: number;
  manifests: number;
  blobs: number;
  bytes: number;
}

export interface Pin {
  repository: string;
  reference: string;
  pinnedAt: number;
}

/** Who holds a lease (one `serve` per data dir), and how to reach it. */
export interface LeaseHolder {
  /** A random id per process start: never a PID, which containers share. */
  instance: string;
  /** How to reach the holder's admin API (a unix socket path). */
  endpoint: string;
  /** What the holder is, for messages (`cargohold serve on 0.0.0.0:5000`). */
  description: string;
  /** The holder's host name: a holder on this host whose admin socket refuses connections is dead. */
  host: string;
}

export interface Lease extends LeaseHolder {
  acquiredAt: number;
  expiresAt: number;
}

/**
 * The metadata port: every read and write the core makes, shaped by its use cases (not by
 * tables), and asynchronous so a networked database fits behind it. Repository names are
 * the normalised ones (library/node); times are ms since the epoch from the repo's clock.
 * Implementations: SQLite (src/metadata/sqlite-repo.ts), memory (src/metadata/memory-repo.ts);
 * all pass test/contract/metadata-repo.contract.ts.
 */
export interface MetadataRepo {
  /** The manifest by digest, and whether this repository is linked to it. */
  findManifest(repository: string, digest: string): Promise<{ manifest: StoredManifest; linked: boolean } | undefined>;
  /** The manifest a tag points at, with when the tag was last confirmed; undefined if either is missing. */
  findTag(repository: string, tag: string): Promise<CachedTag | undefined>;
  /** Stores a verified manifest, links it to the repository and (when given) points the tag at it, in one transaction. */
  recordManifest(repository: string, manifest: NewManifest, tag?: string): Promise<void>;
  linkManifest(repository: string, digest: string): Promise<void>;
  /** The manifests linked to the repository whose `subject` is this digest (its referrers cached here), by digest. */
  findReferrers(repository: string, subject: string): Promise<StoredManifest[]>;
  /** The upstream confirmed the tag still points where we have it. */
  markTagChecked(repository: string, tag: string): Promise<void>;
  /** The upstream says the tag is gone. */
  forgetTag(repository: string, tag: string): Promise<void>;
  /** Tags cached for a repository after `after` in order; undefined for a repository never seen. */
  listTags(repository: string, after: string, limit: number): Promise<string[] | undefined>;
  listRepositories(after: string, limit: number): Promise<string[]>;

  findBlob(repository: string, digest: string): Promise<BlobRecord | undefined>;
  /** Records a blob the backend committed and links it to the repositories the upstream confirmed. */
  recordBlob(digest: string, size: number, repositories: Iterable<string>): Promise<void>;
  linkBlob(repository: string, digest: string): Promise<void>;
  /** The blob's bytes are gone from the backend: forget the record (and its links). */
  forgetBlob(digest: string): Promise<void>;
  /** How many blobs are recorded and the sum of their sizes (for metrics, and for eviction to compare with its limit). */
  storeUsage(): Promise<{ blobs: number; bytes: number }>;

  /** How many blobs are recorded and their total size (what eviction bounds). */
  storeUsage(): Promise<{ blobs: number; bytes: number }>;
  inventory(): Promise<Inventory>;
  /** Tagged images (of one repository, or all), by repository and tag. */
  listImages(repository?: string): Promise<ImageEntry[]>;
  /** Recorded blobs by digest after `after`, at most limit (verify and GC walk them all). */
  listBlobs(after: string, limit: number): Promise<BlobEntry[]>;
  /**
   * Blobs eviction may remove, least recently accessed first (then by digest), after the
   * cursor: every blob except those referenced (through indexes to their images, to
   * config and layers) by a pinned image or by a manifest accessed at or after
   * protectAccessedSince. Blobs being read are the caller's to skip.
   */
  evictionCandidates(options: { protectAccessedSince: number; after?: AccessCursor | undefined; limit: number }): Promise<BlobEntry[]>;
  /** Blobs no stored manifest references, recorded before createdBefore, by digest after `after` (GC). */
  unreferencedBlobs(options: { createdBefore: number; after: string; limit: number }): Promise<BlobEntry[]>;

  /** Access times are batched in memory (a hit must not cost a write) and written by flushAccessTimes. */
  touchBlob(digest: string): void;
  touchManifest(digest: string): void;
  flushAccessTimes(): Promise<void>;

  /** True when the pin is new. */
  pin(repository: string, reference: string): Promise<boolean>;
  /** True when a pin was removed. */
  unpin(repository: string, reference: string): Promise<boolean>;
  listPins(): Promise<Pin[]>;

  /**
   * Takes the named lease for ttlMs if it is free or expired (or already ours); returns
   * the lease now in force, so the caller sees whether it is the holder.
   */
  acquireLease(name: string, holder: LeaseHolder, ttlMs: number): Promise<Lease>;
  /** Takes the lease from `from` (a holder known to be dead) even before it expires; the lease now in force. */
  takeOverLease(name: string, from: string, holder: LeaseHolder, ttlMs: number): Promise<Lease>;
  /** Extends our lease (even past its expiry while nobody took it); false when another instance holds it now. */
  renewLease(name: string, instance: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, instance: string): Promise<void>;
  /** The lease in force (unexpired), if any. */
  currentLease(name: string): Promise<Lease | undefined>;

  /** Adds the counts to what is kept for each row's hour, upstream, repository and principal (the caller batches). */
  addTraffic(rows: readonly TrafficRow[]): Promise<void>;
  /** Sums of the traffic from `since` (inclusive) to `until` (exclusive) by group, groups in ascending key order. */
  trafficTotals(options: { since: number; until?: number | undefined; by: TrafficGroup }): Promise<TrafficTotal[]>;

  /** Flushes access times and closes. */
  close(): Promise<void>;
}
