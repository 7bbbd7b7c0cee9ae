import type { Logger } from 'pino';
import type { MetadataStore } from '../metadata/store.js';
import { digestOf, type Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import type { Reference } from '../oci/reference.js';
import type { UpstreamClient } from '../upstream/client.js';
import { UpstreamError } from '../upstream/errors.js';
import type { ManifestHead } from '../upstream/client.js';
import { canServeStale, isTagFresh, upstreamSaysGone, type FreshnessPolicy } from './policy.js';
import { SingleFlight } from './single-flight.js';
import type { ManifestResult, ManifestService } from './types.js';

export interface ProxyManifestsOptions {
  metadata: MetadataStore;
  upstream: UpstreamClient;
  logger: Logger;
  maxManifestBytes: number;
  policy: FreshnessPolicy;
  now?: () => number;
}

interface CachedTag {
  result: ManifestResult;
  checkedAt: number;
}

/** Manifests: by digest from the store forever; by tag revalidated with a HEAD, stale if the upstream fails. */
export class ProxyManifests implements ManifestService {
  readonly #md: MetadataStore;
  readonly #upstream: UpstreamClient;
  readonly #logger: Logger;
  readonly #maxBytes: number;
  readonly #policy: FreshnessPolicy;
  readonly #now: () => number;
  readonly #flights = new SingleFlight<ManifestResult>();
  /** One shared revalidation HEAD when many clients ask for the same stale tag at once. */
  readonly #heads = new SingleFlight<ManifestHead>();

  constructor(opts: ProxyManifestsOptions) {
    this.#md = opts.metadata;
    this.#upstream = opts.upstream;
    this.#logger = opts.logger;
    this.#maxBytes = opts.maxManifestBytes;
    this.#policy = opts.policy;
    this.#now = opts.now ?? Date.now;
  }

  async get(repository: string, reference: Reference): Promise<ManifestResult> {
    return reference.kind === 'digest' ? this.#byDigest(repository, reference.digest) : this.#byTag(repository, reference.tag);
  }

  async #byDigest(repository: string, digest: Digest): Promise<ManifestResult> {
    const row = this.#md.getManifest(digest.value);
    if (row) {
      if (!this.#md.isManifestLinked(repository, digest.value)) {
        // Held for another repository: the upstream must confirm this one has it too.
        await this.#upstream.headManifest(repository, digest.value);
        this.#md.linkManifest(repository, digest.value);
      }
      this.#md.touchManifest(row.digest);
      return { digest: row.digest, mediaType: row.mediaType, content: row.content, cache: 'hit' };
    }
    return this.#flights.run(`${repository}@${digest.value}`, () => this.#fetch(repository, digest.value, digest));
  }

  async #byTag(repository: string, tag: string): Promise<ManifestResult> {
    const cached = this.#cachedTag(repository, tag);
    if (cached) {
      const fresh = isTagFresh(cached.checkedAt, this.#now(), this.#policy.ttlFor(tag));
      if (fresh || this.#policy.offline) {
        this.#md.touchManifest(cached.result.digest);
        return cached.result;
      }
      try {
        const head = await this.#heads.run(`${repository}:${tag}`, () => this.#upstream.headManifest(repository, tag));
        if (head.digest === cached.result.digest) {
          this.#md.markTagChecked(repository, tag);
          this.#md.touchManifest(cached.result.digest);
          return cached.result;
        }
      } catch (err) {
        return this.#staleOrThrow(repository, tag, cached.result, err);
      }
    }
    try {
      return await this.#flights.run(`${repository}:${tag}`, () => this.#fetch(repository, tag, undefined, tag));
    } catch (err) {
      if (cached) return this.#staleOrThrow(repository, tag, cached.result, err);
      throw err;
    }
  }

  #cachedTag(repository: string, tag: string): CachedTag | undefined {
    const tagRow = this.#md.getTag(repository, tag);
    const row = tagRow && this.#md.getManifest(tagRow.digest);
    if (!tagRow || !row) return undefined;
    return { result: { digest: row.digest, mediaType: row.mediaType, content: row.content, cache: 'hit' }, checkedAt: tagRow.checkedAt };
  }

  #staleOrThrow(repository: string, tag: string, cached: ManifestResult, err: unknown): ManifestResult {
    if (upstreamSaysGone(err)) {
      this.#md.deleteTag(repository, tag);
      throw err;
    }
    if (!canServeStale(err)) throw err;
    this.#logger.warn({ repository, tag, digest: cached.digest, err: (err as Error).message }, 'upstream failed; serving cached tag stale');
    this.#md.touchManifest(cached.digest);
    return { ...cached, cache: 'stale' };
  }

  /** Fetches, verifies and stores a manifest. The digest is always computed here from the bytes. */
  async #fetch(repository: string, reference: string, expected: Digest | undefined, tag?: string): Promise<ManifestResult> {
    const { bytes, contentType } = await this.#upstream.getManifest(repository, reference, this.#maxBytes);
    const digest = digestOf(bytes, expected?.algorithm ?? 'sha256');
    if (expected && digest !== expected.value) {
      throw new UpstreamError('MANIFEST_INVALID', 'upstream manifest does not match the requested digest', 'invalid', { status: 502 });
    }
    const parsed = parseManifest(bytes, contentType);
    this.#md.putManifest(repository, { digest, mediaType: parsed.mediaType, content: bytes, references: parsed.references });
    if (tag !== undefined) this.#md.putTag(repository, tag, digest);
    return { digest, mediaType: parsed.mediaType, content: bytes, cache: 'miss' };
  }
}
