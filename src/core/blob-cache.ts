import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.js';
import { StorageError } from '../errors/storage-error.js';
import { Fill, type FillDeadline, type FillSource } from '../fill/fill.js';
import { createDigester, type Digest } from '../oci/digest.js';
import { parseRange, type ByteRange } from '../oci/range.js';
import type { BlobBackend, BlobWriter } from '../ports/blob-backend.js';
import type { FillCoordinator } from '../ports/fill-coordinator.js';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import { SingleFlight } from '../util/single-flight.js';
import type { StorageHealth } from './storage-health.js';
import type { BlobBody } from '../storage/blob-body.js';
import type { Upstream } from './upstream-port.js';
import type { BlobResult, BlobService, CacheStatus } from './types.js';

export interface BlobCacheOptions {
  metadata: MetadataRepo;
  backend: BlobBackend;
  fills: FillCoordinator<BlobFill>;
  upstream: Upstream;
  deadline: FillDeadline;
  health: StorageHealth;
  logger: Logger;
  /** Read leases for the bodies served from fills (eviction never deletes a blob being read). */
  reads?: { leased(digest: string, body: BlobBody): BlobBody } | undefined;
  /** Called after a blob is stored and recorded (eviction checks the cap). */
  onStored?: (() => void) | undefined;
}

/** A fill and the repositories the upstream confirmed for it (linked to the blob when it is stored). */
export interface BlobFill {
  fill: Fill;
  repositories: Set<string>;
  /** Settles once the blob is stored and recorded, or the fill failed. */
  recorded: Promise<void>;
}

/** A fill in progress, as the dashboard shows it. */
export interface FillProgress {
  digest: string;
  /** The repository whose request started it. */
  repository: string;
  startedAt: number;
  /** Bytes received and hashed so far. */
  received: number;
  size: number | undefined;
  readers: number;
  state: string;
  passThrough: boolean;
}

/** How often ensure() reports the bytes of a blob being fetched. */
const PROGRESS_EVERY_MS = 250;

interface Request {
  repository: string;
  digest: Digest;
  head: boolean;
  range: string | undefined;
}

/**
 * Blobs: local first (if this repository is linked to the blob), else one fill per digest
 * that every waiting client streams from as the bytes arrive. The core decides; the
 * backend stores bytes, the coordinator says who fills, upstream/ fetches. A store that
 * cannot write costs the clients nothing: the fill serves the verified bytes without
 * storing them (a pass-through), and StorageHealth says so once.
 */
export class BlobCache implements BlobService {
  readonly #md: MetadataRepo;
  readonly #backend: BlobBackend;
  readonly #fills: FillCoordinator<BlobFill>;
  readonly #upstream: Upstream;
  readonly #deadline: FillDeadline;
  readonly #health: StorageHealth;
  readonly #logger: Logger;
  /** Fills started here and not over yet (a shutdown cancels them; the dashboard shows them), with when and for whom they started. */
  readonly #running = new Map<Fill, { startedAt: number; repository: string }>();
  #cancelled: Error | undefined;
  /** One re-verification at a time of a stored blob found without a record. */
  readonly #adoptions = new SingleFlight<boolean>();
  readonly #onStored: (() => void) | undefined;
  readonly #reads: BlobCacheOptions['reads'];

  constructor(opts: BlobCacheOptions) {
    this.#reads = opts.reads;
    this.#onStored = opts.onStored;
    this.#md = opts.metadata;
    this.#backend = opts.backend;
    this.#fills = opts.fills;
    this.#upstream = opts.upstream;
    this.#deadline = opts.deadline;
    this.#health = opts.health;
    this.#logger = opts.logger;
  }

  async get(repository: string, digest: Digest, options: { head: boolean; range: string | undefined }): Promise<BlobResult> {
    const request: Request = { repository, digest, ...options };
    // Two rounds: a fill that is stored and closed between our look-ups is then read from the backend.
    for (let round = 0; round < 2; round++) {
      const local = (await this.#fromBackend(request)) ?? ((await this.#adoptOrphan(request)) ? await this.#fromBackend(request) : undefined);
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

  /**
   * Fails every fill in progress with this reason, and any fill that would start from now
   * on (a shutdown past its deadline): their temp files are removed, nothing is recorded
   * and their readers' transfers break. Returns how many were running.
   */
  cancelFills(reason: Error): number {
    this.#cancelled = reason;
    for (const fill of this.#running.keys()) fill.cancel(reason);
    return this.#running.size;
  }

  /** The fills in progress, oldest first: what the dashboard's "now" view shows. */
  fillsInProgress(): FillProgress[] {
    return [...this.#running].map(([fill, { startedAt, repository }]) => ({
      digest: fill.digest.value,
      repository,
      startedAt,
      received: fill.received,
      size: fill.size,
      readers: fill.readers,
      state: fill.state,
      passThrough: fill.passThrough,
    }));
  }

  /** Makes sure a blob is stored here without reading it (for `warm`): its size, and whether it was cached already. */
  async ensure(
    repository: string,
    digest: Digest,
    onProgress?: (received: number, size: number | undefined) => void,
  ): Promise<{ size: number; cache: CacheStatus }> {
    const request: Request = { repository, digest, head: true, range: undefined };
    for (let round = 0; round < 2; round++) {
      const record = (await this.#storedRecord(request)) ?? ((await this.#adoptOrphan(request)) ? await this.#storedRecord(request) : undefined);
      if (record) return { size: record.size, cache: 'hit' };
      const { fill, recorded } = await this.#join(request);
      // A big layer takes a while: report its bytes as they arrive.
      const ticker = onProgress && setInterval(() => onProgress(fill.received, fill.size), PROGRESS_EVERY_MS);
      await recorded.finally(() => clearInterval(ticker));
      if (fill.state === 'failed') throw fill.failure();
      const size = await fill.stored;
      if (size !== undefined) return { size, cache: 'miss' };
      // Warming is storing: a store that cannot write fails it.
      if (fill.storageFailure) throw fill.storageFailure;
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
      if (blob.redirect) {
        const redirect = await blob.redirect();
        await blob.close();
        return { digest: req.digest.value, size: blob.size, range, body: undefined, redirect, cache: 'hit' };
      }
      const { start, end } = range ?? { start: 0, end: blob.size - 1 };
      return { digest: req.digest.value, size: blob.size, range, body: blob.body(start, end), cache: 'hit' };
    } catch (err) {
      await blob.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * A stored blob with no record (a process killed between a fill's commit and its record,
   * or a record that could not be written): re-verified from its bytes and recorded, linked
   * to no repository (the caller's usual confirming HEAD links it), or removed if it does not
   * verify. Checked on a miss only: a stat before going upstream is cheap where listing the
   * whole store at start is not (S3). True when it is recorded now.
   */
  async #adoptOrphan(req: Request): Promise<boolean> {
    const key = req.digest.value;
    // A fill commits before it records: its blob is no orphan.
    if (this.#fills.current(key)) return false;
    return this.#adoptions.run(key, async () => {
      const info = await this.#backend.stat(req.digest);
      if (!info) return false;
      if (await this.#md.findBlob(req.repository, key)) return true; // recorded meanwhile
      const verified = await this.#verifyStored(req.digest);
      if (verified === undefined) return false;
      if (!verified.ok) {
        this.#logger.warn({ digest: key, bytes: verified.size }, 'stored blob without a record does not match its digest; removing it');
        // A fill running now may have just renamed good bytes onto it: left to that fill.
        if (!this.#fills.current(key)) await this.#backend.delete(req.digest);
        return false;
      }
      try {
        await this.#md.recordBlob(key, verified.size, []);
        this.#health.succeeded('metadata');
      } catch (err) {
        if (!(err instanceof StorageError)) throw err;
        this.#health.failed('metadata', err, { digest: key });
        return false;
      }
      this.#logger.info({ digest: key, bytes: verified.size }, 'stored blob without a record verified and recorded');
      return true;
    });
  }

  /** Hashes a stored blob: whether it matches its digest, undefined if it is gone or unreadable. */
  async #verifyStored(digest: Digest): Promise<{ ok: boolean; size: number } | undefined> {
    const blob = await this.#backend.open(digest);
    if (!blob) return undefined;
    const hash = createDigester(digest.algorithm);
    try {
      for await (const chunk of blob.body(0, blob.size - 1).stream()) hash.update(chunk as Buffer);
    } catch (err) {
      this.#logger.warn({ digest: digest.value, err: (err as Error).message }, 'stored blob without a record cannot be read; fetching it');
      return undefined;
    }
    return { ok: `${digest.algorithm}:${hash.digest('hex')}` === digest.value, size: blob.size };
  }

  /** A blob held for another repository is served under this one only once the upstream confirms this one has it too. */
  async #confirmLink(repository: string, digest: Digest): Promise<void> {
    await this.#upstream.headBlob(repository, digest.value);
    await this.#md.linkBlob(repository, digest.value);
  }

  /** Joins the fill of this digest or starts it; a joiner for another repository is confirmed upstream first. */
  async #join(req: Request): Promise<BlobFill> {
    const key = req.digest.value;
    // A fill that failed holds its key until it has settled: a request arriving in between
    // waits for that and starts a fill of its own, instead of inheriting the failure.
    for (let attempt = 0; attempt < 3; attempt++) {
      const running = this.#fills.current(key);
      const joined = running && (await running.catch(() => undefined));
      if (!joined) break;
      const { fill } = joined;
      if (fill.state === 'failed' && !(fill.passThrough && fill.error === fill.storageFailure)) {
        await joined.recorded.catch(() => undefined);
        await new Promise((resolve) => setImmediate(resolve)); // the coordinator lets go of the key after that
        continue;
      }
      if (!joined.repositories.has(req.repository)) {
        await this.#upstream.headBlob(req.repository, key);
        joined.repositories.add(req.repository);
      }
      return joined;
    }
    return this.#fills.join(
      key,
      () => this.#start(req),
      (handle) => handle.recorded,
    );
  }

  async #start(req: Request): Promise<BlobFill> {
    if (this.#cancelled) throw this.#cancelled;
    const key = req.digest.value;
    const source = await this.#upstream.openBlob(req.repository, key);
    let writer: BlobWriter | undefined;
    let unstored: StorageError | undefined;
    try {
      writer = await this.#backend.writer(req.digest);
    } catch (err) {
      if (!(err instanceof StorageError)) {
        source.abort(err as Error);
        throw err;
      }
      // Nowhere to write: the fill passes the bytes through.
      unstored = err;
      this.#health.failed('blobs', err, { digest: key });
    }
    const fill = this.#newFill(req.digest, source, writer, unstored);
    this.#running.set(fill, { startedAt: Date.now(), repository: req.repository });
    void fill.stored.then(() => this.#running.delete(fill));
    if (this.#cancelled) fill.cancel(this.#cancelled); // cancelled while its upstream GET was opening
    const repositories = new Set([req.repository]);
    const recorded = fill.stored.then(async (size) => {
      if (size === undefined) return;
      this.#health.succeeded('blobs');
      try {
        await this.#md.recordBlob(key, size, repositories);
        this.#health.succeeded('metadata');
        this.#onStored?.();
      } catch (err) {
        // The blob is stored without a record: the next miss re-verifies and records it (#adoptOrphan).
        if (err instanceof StorageError) this.#health.failed('metadata', err, { digest: key });
        else this.#logger.error({ digest: key, err: (err as Error).message }, 'blob stored but its record failed');
      }
    });
    return { fill, repositories, recorded };
  }

  #newFill(digest: Digest, source: FillSource, writer: BlobWriter | undefined, unstored: StorageError | undefined): Fill {
    return new Fill({
      digest,
      source,
      writer,
      unstored,
      deadline: this.#deadline,
      logger: this.#logger,
      onStorageFailure: (err) => this.#health.failed('blobs', err, { digest: digest.value }),
    });
  }

  /**
   * A client of a fill that serves from memory and no longer holds its start (or stopped
   * for want of readers): its own download, served as it arrives and stored nowhere. Not
   * a fill of the coordinator: the digest's fill is the other one.
   */
  async #passThrough(req: Request, from: Fill, size: number | undefined, range: ByteRange | undefined): Promise<BlobResult> {
    const source = await this.#upstream.openBlob(req.repository, req.digest.value);
    const fill = new Fill({
      digest: req.digest,
      source,
      writer: undefined,
      unstored: from.storageFailure,
      deadline: this.#deadline,
      logger: this.#logger,
    });
    // Nothing has arrived, so nothing is dropped: the body is there.
    const body = fill.body(range?.start ?? 0, range?.end);
    if (!body) throw fill.failure();
    return { digest: req.digest.value, size: size ?? fill.size, range, body, cache: 'miss' };
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
      if (fill.passThrough && (fill.state !== 'failed' || fill.error === fill.storageFailure)) return this.#passThrough(req, fill, size, range);
      if (fill.state === 'failed') throw fill.failure();
      await recorded; // stored and closed meanwhile: read it from the backend once it is recorded
      return undefined;
    }
    return { digest: req.digest.value, size, range, body: this.#reads ? this.#reads.leased(req.digest.value, body) : body, cache };
  }

  async #headUpstream(req: Request): Promise<BlobResult> {
    const { size } = await this.#upstream.headBlob(req.repository, req.digest.value);
    const range = size === undefined ? undefined : parseRange(req.range, size);
    return { digest: req.digest.value, size, range, body: undefined, cache: 'miss' };
  }
}
