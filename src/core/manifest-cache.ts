import type { Logger } from 'pino';
import { digestOf, type Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import type { Reference } from '../oci/reference.js';
import type { MetadataRepo, StoredManifest } from '../ports/metadata-repo.js';
import { StorageError } from '../errors/storage-error.js';
import { UpstreamError } from '../errors/upstream-error.js';
import { SingleFlight } from '../util/single-flight.js';
import { canServeStale, isTagFresh, upstreamSaysGone, type FreshnessPolicy } from './policy.js';
import type { StorageHealth } from './storage-health.js';
import type { ManifestResult, ManifestService } from './types.js';
import type { ManifestHead, Upstream } from './upstream-port.js';
import type { ClusterFlight } from './cluster-flight.js';

export interface ManifestCacheOptions {
  metadata: MetadataRepo;
  upstream: Upstream;
  logger: Logger;
  maxManifestBytes: number;
  policy: FreshnessPolicy;
  health: StorageHealth;
  now?: () => number;
  /** Fetches and revalidations single-flight across replicas too (absent: this process only). */
  flight?: ClusterFlight | undefined;
}

/** Manifests: by digest from the store forever; by tag revalidated with a HEAD, stale if the upstream fails. */
export class ManifestCache implements ManifestService {
  readonly #md: MetadataRepo;
  readonly #upstream: Upstream;
  readonly #logger: Logger;
  readonly #maxBytes: number;
  readonly #policy: FreshnessPolicy;
  readonly #health: StorageHealth;
  readonly #now: () => number;
  readonly #flights = new SingleFlight<ManifestResult>();
  /** One shared revalidation HEAD when many clients ask for the same stale tag at once. */
  readonly #heads = new SingleFlight<ManifestHead>();
  readonly #flight: ClusterFlight | undefined;

  constructor(opts: ManifestCacheOptions) {
    this.#md = opts.metadata;
    this.#upstream = opts.upstream;
    this.#logger = opts.logger;
    this.#maxBytes = opts.maxManifestBytes;
    this.#policy = opts.policy;
    this.#health = opts.health;
    this.#now = opts.now ?? Date.now;
    this.#flight = opts.flight;
  }

  async get(repository: string, reference: Reference, options: { revalidate?: boolean } = {}): Promise<ManifestResult> {
    return reference.kind === 'digest'
      ? this.#byDigest(repository, reference.digest)
      : this.#byTag(repository, reference.tag, options.revalidate === true);
  }

  async #byDigest(repository: string, digest: Digest): Promise<ManifestResult> {
    const found = await this.#md.findManifest(repository, digest.value);
    if (found) {
      if (!found.linked) {
        // Held for another repository: the upstream must confirm this one has it too.
        await this.#upstream.headManifest(repository, digest.value);
        await this.#md.linkManifest(repository, digest.value);
      }
      this.#md.touchManifest(digest.value);
      return result(found.manifest, 'hit');
    }
    return this.#shared(
      `${repository}@${digest.value}`,
      () => this.#fetch(repository, digest.value, digest),
      async () => {
        const stored = await this.#md.findManifest(repository, digest.value);
        return stored?.linked ? result(stored.manifest, 'miss') : undefined;
      },
    );
  }

  async #byTag(repository: string, tag: string, revalidate = false): Promise<ManifestResult> {
    const cached = await this.#md.findTag(repository, tag);
    if (cached) {
      const hit = result(cached.manifest, 'hit');
      const fresh = !revalidate && isTagFresh(cached.checkedAt, this.#now(), this.#policy.ttlFor(tag, repository));
      if (fresh || this.#policy.offline) {
        this.#md.touchManifest(hit.digest);
        return hit;
      }
      let head: ManifestHead;
      try {
        const key = `${repository}:${tag}`;
        head = await this.#heads.run(key, () =>
          this.#acrossReplicas(
            `head:${key}`,
            () => this.#upstream.headManifest(repository, tag),
            // Another replica revalidated it meanwhile: its answer, as recorded.
            async () => {
              const now = await this.#md.findTag(repository, tag);
              if (!now || now.checkedAt <= cached.checkedAt) return undefined;
              return { digest: now.manifest.digest, mediaType: now.manifest.mediaType, size: now.manifest.content.length };
            },
          ),
        );
      } catch (err) {
        return this.#staleOrThrow(repository, tag, hit, err);
      }
      if (head.digest === hit.digest) {
        // Confirmed: a check time that cannot be recorded (a full disk) costs one more HEAD next time, not this pull.
        await this.#md.markTagChecked(repository, tag).catch((err: Error) => {
          if (err instanceof StorageError) this.#health.failed('metadata', err, { repository, tag });
          else this.#logger.error({ repository, tag, err: err.message }, 'cannot record the tag check');
        });
        this.#md.touchManifest(hit.digest);
        return hit;
      }
    }
    try {
      return await this.#shared(
        `${repository}:${tag}`,
        () => this.#fetch(repository, tag, undefined, tag),
        // Another replica fetched it meanwhile: what it recorded, if it is newer than what we had.
        async () => {
          const now = await this.#md.findTag(repository, tag);
          return now && (!cached || now.checkedAt > cached.checkedAt) ? result(now.manifest, 'miss') : undefined;
        },
      );
    } catch (err) {
      if (cached) return this.#staleOrThrow(repository, tag, result(cached.manifest, 'hit'), err);
      throw err;
    }
  }

  /** One fetch per key; a caller that joined one in progress gets its result marked coalesced. */
  async #shared(key: string, fetch: () => Promise<ManifestResult>, recorded: () => Promise<ManifestResult | undefined>): Promise<ManifestResult> {
    const joined = this.#flights.current(key) !== undefined;
    let elsewhere = false;
    const fetched = await this.#flights.run(key, () =>
      this.#acrossReplicas(`manifest:${key}`, fetch, async () => {
        const found = await recorded();
        elsewhere = found !== undefined;
        return found;
      }),
    );
    return joined || elsewhere ? { ...fetched, coalesced: true } : fetched;
  }

  #acrossReplicas<T>(key: string, work: () => Promise<T>, recorded: () => Promise<T | undefined>): Promise<T> {
    return this.#flight ? this.#flight.run(key, work, recorded) : work();
  }

  async #staleOrThrow(repository: string, tag: string, cached: ManifestResult, err: unknown): Promise<ManifestResult> {
    if (upstreamSaysGone(err)) {
      await this.#md.forgetTag(repository, tag);
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
    try {
      await this.#md.recordManifest(repository, { digest, mediaType: parsed.mediaType, content: bytes, references: parsed.references }, tag);
      this.#health.succeeded('metadata');
    } catch (err) {
      // Verified: the client gets it whether or not it can be kept (the next request fetches it again).
      if (!(err instanceof StorageError)) throw err;
      this.#health.failed('metadata', err, { repository, reference, digest });
    }
    return { digest, mediaType: parsed.mediaType, content: bytes, cache: 'miss' };
  }
}

function result(manifest: StoredManifest, cache: ManifestResult['cache']): ManifestResult {
  return { digest: manifest.digest, mediaType: manifest.mediaType, content: manifest.content, cache };
}
