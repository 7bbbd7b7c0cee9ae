import type { Logger } from 'pino';
import type { Digest } from '../oci/digest.js';
import { parseReferrersIndex, referrerDescriptor, referrersTag, type ReferrerDescriptor } from '../oci/referrers.js';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import { canServeStale, upstreamSaysGone } from './policy.js';
import { TtlCache } from './ttl-cache.js';
import type { ReferrersResult, ReferrersService } from './types.js';
import type { Upstream } from './upstream-port.js';

export interface ReferrersOptions {
  metadata: MetadataRepo;
  upstream: Upstream;
  logger: Logger;
  maxManifestBytes: number;
  /** How long the upstream's list is kept in memory (the default tag TTL). */
  ttlSeconds: number;
  now?: () => number;
}

/** Subjects whose upstream lists are kept in memory at once. */
const MAX_CACHED_LISTS = 1024;

/**
 * Referrers of a digest: the upstream's (its referrers API, else the index behind its
 * referrers tag `sha256-<hex>`), kept for the TTL, merged with the manifests cached here
 * whose `subject` is the digest. When the upstream fails, the cached ones alone.
 */
export class Referrers implements ReferrersService {
  readonly #md: MetadataRepo;
  readonly #upstream: Upstream;
  readonly #logger: Logger;
  readonly #maxBytes: number;
  readonly #lists: TtlCache<ReferrerDescriptor[]>;

  constructor(opts: ReferrersOptions) {
    this.#md = opts.metadata;
    this.#upstream = opts.upstream;
    this.#logger = opts.logger;
    this.#maxBytes = opts.maxManifestBytes;
    this.#lists = new TtlCache({ ttlSeconds: opts.ttlSeconds, maxEntries: MAX_CACHED_LISTS, now: opts.now ?? Date.now });
  }

  async list(repository: string, digest: Digest, artifactType: string | undefined): Promise<ReferrersResult> {
    let upstream: ReferrerDescriptor[] = [];
    try {
      upstream = await this.#lists.get(`${repository}@${digest.value}`, () => this.#fetch(repository, digest));
    } catch (err) {
      if (!canServeStale(err)) throw err;
      this.#logger.warn({ repository, digest: digest.value, err: (err as Error).message }, 'upstream failed; listing the referrers cached here');
    }
    const local = (await this.#md.findReferrers(repository, digest.value)).map(referrerDescriptor);
    const seen = new Set(upstream.map((d) => d.digest));
    const merged = [...upstream];
    for (const descriptor of local) {
      if (descriptor && !seen.has(descriptor.digest)) {
        seen.add(descriptor.digest);
        merged.push(descriptor);
      }
    }
    if (artifactType === undefined) return { descriptors: merged, filtered: false };
    return { descriptors: merged.filter((d) => d.artifactType === artifactType), filtered: true };
  }

  async #fetch(repository: string, digest: Digest): Promise<ReferrerDescriptor[]> {
    const api = await this.#upstream.listReferrers(repository, digest.value, this.#maxBytes);
    if (api !== undefined) return api;
    // No referrers API: the referrers tag schema, an index pushed by the clients themselves.
    try {
      const { bytes } = await this.#upstream.getManifest(repository, referrersTag(digest.value), this.#maxBytes);
      // Not an index: no referrers (the spec's advice to clients).
      return parseReferrersIndex(bytes) ?? [];
    } catch (err) {
      if (upstreamSaysGone(err)) return [];
      throw err;
    }
  }
}
