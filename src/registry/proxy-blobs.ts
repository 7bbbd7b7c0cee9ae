import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.js';
import type { MetadataStore } from '../metadata/store.js';
import type { Digest } from '../oci/digest.js';
import { parseRange, type ByteRange } from '../oci/range.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { FillView } from '../storage/fill-view.js';
import { FilledElsewhere } from '../storage/fill-lock.js';
import type { FillRegistry } from '../storage/fills.js';
import type { UpstreamClient } from '../upstream/client.js';
import type { BlobResult, BlobService, CacheStatus } from './types.js';

export interface ProxyBlobsOptions {
  metadata: MetadataStore;
  store: BlobStore;
  fills: FillRegistry;
  upstream: UpstreamClient;
  logger: Logger;
}

interface Request {
  repository: string;
  digest: Digest;
  head: boolean;
  range: string | undefined;
}

/**
 * Blobs: local first (if this repository is linked to the blob), else one fill per
 * digest that every waiting client streams from as bytes arrive.
 */
export class ProxyBlobs implements BlobService {
  readonly #md: MetadataStore;
  readonly #store: BlobStore;
  readonly #fills: FillRegistry;
  readonly #upstream: UpstreamClient;
  readonly #logger: Logger;
  /** Repositories the upstream confirmed for each fill in progress; linked when it commits. */
  readonly #fillRepositories = new Map<string, Set<string>>();

  constructor(opts: ProxyBlobsOptions) {
    this.#md = opts.metadata;
    this.#store = opts.store;
    this.#fills = opts.fills;
    this.#upstream = opts.upstream;
    this.#logger = opts.logger;
  }

  async get(repository: string, digest: Digest, options: { head: boolean; range: string | undefined }): Promise<BlobResult> {
    const request: Request = { repository, digest, ...options };
    // Two rounds: a fill that commits between our look-ups is then read from disk.
    for (let round = 0; round < 2; round++) {
      const local = await this.#fromDisk(request);
      if (local) return local;
      let fill: FillView | undefined;
      try {
        fill = await this.#fill(request);
      } catch (err) {
        if (err instanceof FilledElsewhere) continue; // another process stored it meanwhile
        throw err;
      }
      if (!fill) return this.#headUpstream(request);
      const result = await this.#fromFill(request, fill);
      if (result) return result;
    }
    throw new RegistryError('UNAVAILABLE', 'the blob changed hands between two processes; try again', { detail: { digest: digest.value } });
  }

  /**
   * Makes sure a blob is stored here without reading it back (for `warm`):
   * its size, and whether it was already cached.
   */
  async ensure(repository: string, digest: Digest): Promise<{ size: number; cache: CacheStatus }> {
    const request: Request = { repository, digest, head: false, range: undefined };
    for (let round = 0; round < 2; round++) {
      const row = this.#md.getBlob(digest.value);
      if (row && (await this.#store.exists(digest))) {
        await this.#confirmLink(repository, digest);
        return { size: row.size, cache: 'hit' };
      }
      if (row) this.#md.deleteBlob(digest.value);
      let fill: FillView;
      try {
        fill = (await this.#fill(request)) as FillView;
      } catch (err) {
        if (err instanceof FilledElsewhere) continue;
        throw err;
      }
      await fill.settled;
      if (fill.state === 'failed') throw fill.error;
      return { size: fill.written, cache: 'miss' };
    }
    throw new RegistryError('UNAVAILABLE', 'the blob changed hands between two processes; try again', { detail: { digest: digest.value } });
  }

  async #fromDisk(req: Request): Promise<BlobResult | undefined> {
    const row = this.#md.getBlob(req.digest.value);
    if (!row) return undefined;
    const file = await this.#store.open(req.digest);
    if (!file) {
      this.#logger.warn({ digest: req.digest.value }, 'blob file missing from disk; refetching');
      this.#md.deleteBlob(req.digest.value);
      return undefined;
    }
    try {
      await this.#confirmLink(req.repository, req.digest);
      const range = parseRange(req.range, file.size);
      this.#md.touchBlob(req.digest.value);
      if (req.head) {
        await file.close();
        return { digest: req.digest.value, size: file.size, range, body: undefined, cache: 'hit' };
      }
      const { start, end } = range ?? { start: 0, end: file.size - 1 };
      return { digest: req.digest.value, size: file.size, range, body: file.body(start, end), cache: 'hit' };
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
  }

  /** A blob held for another repository is served under this one only once the upstream confirms this one has it too. */
  async #confirmLink(repository: string, digest: Digest): Promise<void> {
    if (this.#md.isBlobLinked(repository, digest.value)) return;
    await this.#upstream.headBlob(repository, digest.value);
    this.#md.linkBlob(repository, digest.value);
  }

  /** The fill for this digest (joined or started), or undefined for a HEAD with no fill running. */
  async #fill(req: Request): Promise<FillView | undefined> {
    const key = req.digest.value;
    let repositories = this.#fillRepositories.get(key);
    const running = this.#fills.current(req.digest);
    let confirmedHere = false;
    if (running && !repositories?.has(req.repository)) {
      // Someone else's fill: the upstream must confirm this repository has the blob too.
      await this.#upstream.headBlob(req.repository, key);
      repositories?.add(req.repository);
      confirmedHere = true;
    }
    if (!running && req.head) return undefined;
    if (!running) {
      repositories = new Set([req.repository]);
      this.#fillRepositories.set(key, repositories);
    }
    const confirmed = repositories ?? new Set([req.repository]);
    const pending = this.#fills.join(req.digest, {
      connect: () => this.#upstream.getBlob(req.repository, key),
      resume: (offset) => this.#upstream.getBlobFrom(req.repository, key, offset),
      onCommit: (size) => this.#md.putBlob(key, size, confirmed),
    });
    if (!running) {
      const forget = () => {
        if (this.#fillRepositories.get(key) === confirmed) this.#fillRepositories.delete(key);
      };
      pending.then((fill) => fill.settled.then(forget), forget);
    }
    const fill = await pending;
    // Another process's fill was started for whatever repository it was asked for: every
    // request that joins it here has its own repository confirmed by the upstream.
    if (fill.remote && !confirmedHere) await this.#upstream.headBlob(req.repository, key);
    return fill;
  }

  async #fromFill(req: Request, fill: FillView): Promise<BlobResult | undefined> {
    let size = fill.size;
    if (size === undefined && (req.range !== undefined || req.head)) {
      // No announced length: a Range or HEAD is answered once the blob is complete.
      await fill.settled;
      if (fill.state === 'failed') throw fill.error;
      size = fill.size;
    }
    const range: ByteRange | undefined = size === undefined ? undefined : parseRange(req.range, size);
    if (req.head) return { digest: req.digest.value, size, range, body: undefined, cache: 'miss' };
    const body = fill.body(range?.start ?? 0, range?.end);
    if (!body) {
      if (fill.state === 'failed') throw fill.error;
      return undefined; // committed and closed meanwhile: read it from disk
    }
    return { digest: req.digest.value, size, range, body, cache: 'miss' };
  }

  async #headUpstream(req: Request): Promise<BlobResult> {
    const { size } = await this.#upstream.headBlob(req.repository, req.digest.value);
    const range = size === undefined ? undefined : parseRange(req.range, size);
    return { digest: req.digest.value, size, range, body: undefined, cache: 'miss' };
  }
}
