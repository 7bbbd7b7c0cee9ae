import type { BlobBody } from '../storage/blob-body.js';
import type { Digest } from '../oci/digest.js';
import type { ReferrerDescriptor } from '../oci/referrers.js';
import type { ByteRange } from '../oci/range.js';
import type { Reference } from '../oci/reference.js';

/** How a response was served: from the cache, fetched now, or from the cache because the upstream failed. */
export type CacheStatus = 'hit' | 'miss' | 'stale';

export interface ManifestResult {
  digest: string;
  mediaType: string;
  content: Buffer;
  cache: CacheStatus;
  /** Joined a fetch another request had started (for metrics; the client sees `miss`). */
  coalesced?: true;
}

export interface BlobResult {
  digest: string;
  /** Total size; undefined only while a fill from an upstream that sent no length is running. */
  size: number | undefined;
  /** The byte range served, when the client asked for one. */
  range: ByteRange | undefined;
  /** The body; undefined for HEAD, or when the client is sent to `redirect`. */
  body: BlobBody | undefined;
  /** A URL that serves the stored blob (a presigned object store URL): the client is redirected there. */
  redirect?: string;
  cache: CacheStatus;
  /** Joined a fill in progress that another request had started (for metrics; the client sees `miss`). */
  coalesced?: true;
}

export interface Page {
  items: string[];
  /** `last` for the next page, when there is one. */
  next: { n: number; last: string } | undefined;
}

/** The same interfaces a local (non-proxy) registry would implement: routes never know where bytes come from. */
export interface ManifestService {
  /** revalidate: ask the upstream about a tag now, even within its TTL (`warm --refresh`). */
  get(repository: string, reference: Reference, options?: { revalidate?: boolean }): Promise<ManifestResult>;
}

export interface BlobService {
  get(repository: string, digest: Digest, options: { head: boolean; range: string | undefined }): Promise<BlobResult>;
}

export interface TagService {
  list(repository: string, n: number | undefined, last: string | undefined): Promise<Page>;
}

export interface ReferrersResult {
  descriptors: ReferrerDescriptor[];
  /** An artifactType filter was applied (the answer says so in OCI-Filters-Applied). */
  filtered: boolean;
}

export interface ReferrersService {
  list(repository: string, digest: Digest, artifactType: string | undefined): Promise<ReferrersResult>;
}

export interface CatalogService {
  /** With `readable`, the page holds only the repositories it accepts. */
  list(n: number | undefined, last: string | undefined, readable?: (repository: string) => boolean): Promise<Page>;
}

export interface Registry {
  manifests: ManifestService;
  blobs: BlobService;
  tags: TagService;
  referrers: ReferrersService;
  catalog: CatalogService;
}
