import type { FillSource } from '../fill/fill.js';
import type { ReferrerDescriptor } from '../oci/referrers.js';

export interface ManifestHead {
  digest: string | undefined;
  mediaType: string | undefined;
  size: number | undefined;
}

export interface ManifestBody {
  bytes: Buffer;
  contentType: string | undefined;
}

export interface TagPage {
  tags: string[];
  next: { n?: number; last: string } | undefined;
}

/**
 * What the core asks of an upstream registry (src/upstream/client.ts implements it). Every
 * failure is an UpstreamError, already mapped onto the error the client should see.
 */
export interface Upstream {
  headManifest(repository: string, reference: string): Promise<ManifestHead>;
  /** GETs a manifest, refusing bodies over maxBytes. */
  getManifest(repository: string, reference: string, maxBytes: number): Promise<ManifestBody>;
  headBlob(repository: string, digest: string): Promise<{ size: number | undefined }>;
  /** A blob's bytes, resumed by the upstream layer if the transfer breaks off. */
  openBlob(repository: string, digest: string): Promise<FillSource>;
  /** A blob's bytes from byte `offset` to its end (`Range`; exactly from there, or an error): a transfer another replica broke off. */
  openBlobFrom(repository: string, digest: string, offset: number): Promise<FillSource>;
  listTags(repository: string, n: number | undefined, last: string | undefined): Promise<TagPage>;
  /** The referrers API's list for a digest (every page; bodies over maxBytes refused); undefined when the upstream has no referrers API. */
  listReferrers(repository: string, digest: string, maxBytes: number): Promise<ReferrerDescriptor[] | undefined>;
}
