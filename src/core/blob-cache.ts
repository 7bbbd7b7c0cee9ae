import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.js';
import { Fill, type FillDeadline } from '../fill/fill.js';
import type { Digest } from '../oci/digest.js';
import { parseRange } from '../oci/range.js';
import type { BlobBackend } from '../ports/blob-backend.js';
import type { FillCoordinator } from '../ports/fill-coordinator.js';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import type { Upstream } from './upstream-port.js';
import type { BlobResult, BlobService, CacheStatus } from './types.js';

export interface BlobCacheOptions {
  metadata: MetadataRepo;
  backend: BlobBackend;
  fills: FillCoordinator<BlobFill>;
  upstream: Upstream;
  deadline: FillDeadline;
  logger: Logger;
}

/** A fill and the repositories the upstream confirmed for it (linked to the blob when it is stored). */
export interface BlobFill {
  fill: Fill;
  repositories: Set<string>;
  /** Settles once the blob is stored and recorded, or the fill failed. */
  recorded: Promise<void>;
}

interface Request {
  repository: string;
  digest: Digest;
  head: boolean;
  range: string | undefined;
}

/**
 * Blobs: local first (if this repository is linked to the blob), else one fill per digest
 * that every waiting client streams from as the bytes arrive. The core decides; the
 * backend stores bytes, the coordinator says who fills, upstream/ fetches.
 */
export class BlobCache implements BlobService {
  readonly #md: MetadataRepo;
  readonly #backend: BlobBackend;
  readonly #fills: FillCoordinator<BlobFill>;
  readonly #upstream: Upstream;
  readonly #deadline: FillDeadline;
  readonly #logger: Logger;

  constructor(opts: BlobCacheOptions) {
    this.#md = opts.metadata;
    this.#backend = opts.backend;
    this.#fills = opts.fills;
    this.#upstream = opts.upstream;
    this.#deadline = opts.deadline;
    this.#logger = opts.logger;
  }

  async get(repository: string, digest: Digest, options: { head: boolean; range: string | undefined }): Promise<BlobResult> {
    const request: Request = { repository, digest, ...options };
    // Two rounds: a fill that is stored and closed between our look-ups is then read from the backend.
    for (let round = 0; round < 2; round++) {
      const local = await this.#fromBackend(request);
      if (local) return local;
      const joining = this.#fills.current(digest.value) !== undefined;
      if (request.head && !joining) return this.#headUpstream(request);
      const result = await this.#fromFill(request, await this.#join(request));
      // Joined another request's fill while its bytes were still arriving.
      if (result) return joining && result.cache === 'miss' ? { ...result, coalesced: true } : result;
    }
    throw new RegistryError('UNAVAILABLE', 'the blob was stored and removed while this request looked for it; try again', {
      detail: { digest: digest.value },
    });
  }

  /** Makes sure a blob is stored here without reading it (for `warm`): its size, and whether it was cached already. */
  async ensure(repository: string, digest: Digest): Promise<{ size: number; cache: CacheStatus }> {
    const request: Request = { repository, digest, head: true, range: undefined };
    for (let round = 0; round < 2; round++) {
      const record = await this.#storedRecord(request);
      if (record) return { size: record.size, cache: 'hit' };
      const { fill, recorded } = await this.#join(request);
      await recorded;
      if (fill.state === 'failed') throw fill.failure();
      const size = await fill.stored;
      if (size !== undefined) return { size, cache: 'miss' };
    }
    throw new RegistryError('UNAVAILABLE', 'the blob could not be stored; see the log', { detail: { digest: digest.value } });
  }

  /** The record of a blob stored and linked to this repository (linking it after an upstream HEAD), or undefined. */
  async #storedRecord(req: Request): Promise<{ size: number } | undefined> {
    const record = await this.#md.findBlob(req.repository, req.digest.value);
    if (!record) return undefined;
    if (!(await this.#backend.stat(req.digest))) {
      this.#logger.warn({ digest: req.digest.value }, 'blob missing from storage; refetching');
      await this.#md.forgetBlob(req.digest.value);
      return undefined;
    }
    if (!record.linked) await this.#confirmLink(req.repository, req.digest);
    return record;
  }

  async #fromBackend(req: Request): Promise<BlobResult | undefined> {
    const record = await this.#md.findBlob(req.repository, req.digest.value);
    if (!record) return undefined;
    const blob = await this.#backend.open(req.digest);
    if (!blob) {
      this.#logger.warn({ digest: req.digest.value }, 'blob missing from storage; refetching');
      await this.#md.forgetBlob(req.digest.value);
      return undefined;
    }
    try {
      if (!record.linked) await this.#confirmLink(req.repository, req.digest);
      const range = parseRange(req.range, blob.size);
      this.#md.touchBlob(req.digest.value);
      if (req.head) {
        await blob.close();
        return { digest: req.digest.value, size: blob.size, range, body: undefined, cache: 'hit' };
      }
      const { start, end } = range ?? { start: 0, end: blob.size - 1 };
      return { digest: req.digest.value, size: blob.size, range, body: blob.body(start, end), cache: 'hit' };
    } catch (err) {
      await blob.close().catch(() => undefined);
      throw err;
    }
  }

  /** A blob held for another repository is served under this one only once the upstream confirms this one has it too. */
  async #confirmLink(repository: string, digest: Digest): Promise<void> {
    await this.#upstream.headBlob(repository, digest.value);
    await this.#md.linkBlob(repository, digest.value);
  }

  /** Joins the fill of this digest or starts it; a joiner for another repository is confirmed upstream first. */
  async #join(req: Request): Promise<BlobFill> {
    const key = req.digest.value;
    const running = this.#fills.current(key);
    if (running) {
      const joined = await running.catch(() => undefined);
      if (joined && !joined.repositories.has(req.repository)) {
        await this.#upstream.headBlob(req.repository, key);
        joined.repositories.add(req.repository);
      }
      if (joined) return joined;
    }
    return this.#fills.join(
      key,
      () => this.#start(req),
      (handle) => handle.recorded,
    );
  }

  async #start(req: Request): Promise<BlobFill> {
    const source = await this.#upstream.openBlob(req.repository, req.digest.value);
    let writer;
    try {
      writer = await this.#backend.writer(req.digest);
    } catch (err) {
      source.abort(err as Error);
      throw err;
    }
    const fill = new Fill({ digest: req.digest, source, writer, deadline: this.#deadline, logger: this.#logger });
    const repositories = new Set([req.repository]);
    const recorded = fill.stored.then(async (size) => {
      if (size === undefined) return;
      try {
        await this.#md.recordBlob(req.digest.value, size, repositories);
      } catch (err) {
        this.#logger.error({ digest: req.digest.value, err: (err as Error).message }, 'blob stored but its record failed; it will be fetched again');
      }
    });
    return { fill, repositories, recorded };
  }

  async #fromFill(req: Request, { fill, recorded }: BlobFill): Promise<BlobResult | undefined> {
    let size = fill.size;
    if (size === undefined && (req.range !== undefined || req.head)) {
      // No announced length: a Range or HEAD is answered once the blob is complete.
      await fill.finished;
      if (fill.state === 'failed') throw fill.failure();
      size = fill.size;
    }
    const range = size === undefined ? undefined : parseRange(req.range, size);
    // A fill whose bytes are all here and verified serves like the cache does.
    const cache: CacheStatus = fill.state === 'verified' ? 'hit' : 'miss';
    if (req.head) return { digest: req.digest.value, size, range, body: undefined, cache };
    const body = fill.body(range?.start ?? 0, range?.end);
    if (!body) {
      if (fill.state === 'failed') throw fill.failure();
      await recorded; // stored and closed meanwhile: read it from the backend once it is recorded
      return undefined;
    }
    return { digest: req.digest.value, size, range, body, cache };
  }

  async #headUpstream(req: Request): Promise<BlobResult> {
    const { size } = await this.#upstream.headBlob(req.repository, req.digest.value);
    const range = size === undefined ? undefined : parseRange(req.range, size);
    return { digest: req.digest.value, size, range, body: undefined, cache: 'miss' };
  }
}
