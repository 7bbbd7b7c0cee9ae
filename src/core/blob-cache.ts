import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.js';
import { StorageError } from '../errors/storage-error.js';
import { Fill, type FillDeadline, type FillSource } from '../fill/fill.js';
import { createDigester, type Digest } from '../oci/digest.js';
import { parseRange, type ByteRange } from '../oci/range.js';
import type { BlobBackend, BlobWriter } from '../ports/blob-backend.js';
import { fillClaimKey, type Cluster, type ClaimOwner, type HeldClaim } from '../ports/cluster.js';
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
  /** Read leases for the bodies served from fills (eviction never deletes a blob being read), and published to other replicas. */
  reads?: { leased(digest: string, body: BlobBody): BlobBody; holdShared(digest: string): Promise<() => void> } | undefined;
  /** Called after a blob is stored and recorded (eviction checks the cap). */
  onStored?: (() => void) | undefined;
  /** The replicas this one shares its store with: one fill per digest across all of them. */
  cluster?: Cluster | undefined;
  /** Streams another replica's fill as it arrives (absent: wait for that fill to be stored). */
  peers?: PeerSource | undefined;
  /** How long to wait for another replica's fill to be stored before fetching it here. */
  clusterWaitMs?: number | undefined;
}

/** Opens another replica's fill of a digest (src/cluster/peer-client.ts). */
export interface PeerSource {
  /** The owner's stream, 'gone' when it has neither the fill nor the blob; throws PeerUnreachable when it cannot be reached. */
  open(owner: ClaimOwner, digest: string): Promise<FillSource | 'gone'>;
}

/** The owner of another replica's claim could not be reached (name checked, not class: the cluster module stays out of core/). */
const isUnreachable = (err: unknown) => err instanceof Error && err.name === 'PeerUnreachable';

/** Another replica stored the blob while this one waited: look in the store again. */
class StoredElsewhere extends Error {
  override name = 'StoredElsewhere';
}

/** Where a fill's bytes come from: the upstream (this replica owns the fill) or the replica that owns it. */
type FillOrigin = { kind: 'upstream' } | { kind: 'replica'; owner: ClaimOwner };

/** A fill and the repositories the upstream confirmed for it (linked to the blob when it is stored). */
export interface BlobFill {
  fill: Fill;
  repositories: Set<string>;
  /** Settles once the blob is stored and recorded, or the fill failed. */
  recorded: Promise<void>;
  origin: FillOrigin;
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
  /** Streamed from the replica that owns the fill, not from the upstream. */
  fromReplica: boolean;
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
  readonly #running = new Map<Fill, { startedAt: number; repository: string; fromReplica: boolean }>();
  #cancelled: Error | undefined;
  /** One re-verification at a time of a stored blob found without a record. */
  readonly #adoptions = new SingleFlight<boolean>();
  readonly #onStored: (() => void) | undefined;
  readonly #reads: BlobCacheOptions['reads'];
  readonly #cluster: Cluster | undefined;
  readonly #peers: PeerSource | undefined;
  readonly #clusterWaitMs: number;

  constructor(opts: BlobCacheOptions) {
    this.#cluster = opts.cluster?.shared ? opts.cluster : undefined;
    this.#peers = opts.peers;
    this.#clusterWaitMs = opts.clusterWaitMs ?? 60_000;
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
    // A fill that is stored and closed between our look-ups (here, or on another replica) is then read from the backend.
    for (let round = 0; round < 3; round++) {
      const local = (await this.#fromBackend(request)) ?? ((await this.#adoptOrphan(request)) ? await this.#fromBackend(request) : undefined);
      if (local) return local;
      const joining = this.#fills.current(digest.value) !== undefined;
      if (request.head && !joining) return this.#headUpstream(request);
      const joined = await this.#joinOrLookAgain(request);
      if (!joined) continue;
      const result = await this.#fromFill(request, joined);
      // Joined another request's fill (here or on another replica) while its bytes were still arriving.
      const coalesced = joining || joined.origin.kind === 'replica';
      if (result) return coalesced && result.cache === 'miss' ? { ...result, coalesced: true } : result;
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
      fromReplica: this.#running.get(fill)?.fromReplica === true,
    }));
  }

  /**
   * What another replica streams from this one (the internal endpoint): the bytes of this
   * replica's own fill of the digest from its start, as they arrive, or the stored blob.
   * Never another replica's fill relayed (no chains), never a new fill: undefined then.
   */
  async forReplica(digest: Digest): Promise<{ size: number | undefined; body: BlobBody } | undefined> {
    const key = digest.value;
    const running = this.#fills.current(key);
    const joined = running && (await running.catch(() => undefined));
    if (joined && joined.origin.kind === 'upstream' && joined.fill.state !== 'failed') {
      const body = joined.fill.body(0);
      if (body) return { size: joined.fill.size, body: this.#reads ? this.#reads.leased(key, body) : body };
    }
    if (joined) await joined.recorded.catch(() => undefined);
    if (!(await this.#md.findBlob('', key))) return undefined;
    const blob = await this.#backend.open(digest);
    if (!blob) return undefined;
    return { size: blob.size, body: blob.body(0, blob.size - 1) };
  }

  /** Makes sure a blob is stored here without reading it (for `warm`): its size, and whether it was cached already. */
  async ensure(
    repository: string,
    digest: Digest,
    onProgress?: (received: number, size: number | undefined) => void,
  ): Promise<{ size: number; cache: CacheStatus }> {
    const request: Request = { repository, digest, head: true, range: undefined };
    for (let round = 0; round < 3; round++) {
      const record = (await this.#storedRecord(request)) ?? ((await this.#adoptOrphan(request)) ? await this.#storedRecord(request) : undefined);
      if (record) return { size: record.size, cache: 'hit' };
      const joined = await this.#joinOrLookAgain(request);
      if (!joined) continue;
      const { fill, recorded, origin } = joined;
      // A big layer takes a while: report its bytes as they arrive.
      const ticker = onProgress && setInterval(() => onProgress(fill.received, fill.size), PROGRESS_EVERY_MS);
      await recorded.finally(() => clearInterval(ticker));
      if (fill.state === 'failed') throw fill.failure();
      if (origin.kind === 'replica') continue; // stored by its owner: found in the store next round
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
    if (!this.#cluster || !this.#reads) return this.#openStored(req);
    // Published before the record is looked up: another replica's maintenance then sees this read or removed the record first.
    const release = await this.#reads.holdShared(req.digest.value);
    try {
      return await this.#openStored(req);
    } finally {
      release(); // the opened blob holds its own lease
    }
  }

  async #openStored(req: Request): Promise<BlobResult | undefined> {
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
    // A fill commits before it records: its blob is no orphan (nor is one another replica fills or reads).
    if (this.#fills.current(key)) return false;
    if (this.#cluster && (await this.#cluster.inUseElsewhere(key))) return false;
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

  /** #join, or undefined when another replica stored the blob meanwhile (the caller looks in the store again). */
  async #joinOrLookAgain(req: Request): Promise<BlobFill | undefined> {
    try {
      return await this.#join(req);
    } catch (err) {
      if (err instanceof StoredElsewhere) return undefined;
      throw err;
    }
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

  /**
   * Starts the fill of a digest. Alone, from the upstream. With other replicas, the one
   * that claims the digest first fills it from the upstream; the others stream its bytes
   * from it (or, without a shared secret, wait until it has stored them). An owner that
   * cannot be reached is dead: its claim is taken over. Three tries, then the upstream.
   */
  async #start(req: Request): Promise<BlobFill> {
    if (this.#cancelled) throw this.#cancelled;
    const cluster = this.#cluster;
    if (!cluster) return this.#startUpstream(req, undefined);
    const key = req.digest.value;
    const claimKey = fillClaimKey(key);
    for (let attempt = 0; attempt < 3; attempt++) {
      let claimed = await cluster.claim(claimKey, req.repository);
      if ('owner' in claimed && this.#peers && claimed.owner.address) {
        const { owner } = claimed;
        try {
          const source = await this.#peers.open(owner, key);
          if (source !== 'gone') return await this.#startFromReplica(req, owner, source);
          continue; // its fill is over: stored (found next round) or failed (claim again)
        } catch (err) {
          if (!isUnreachable(err)) throw err;
          this.#logger.warn(
            { digest: key, owner: owner.instance, address: owner.address, err: (err as Error).message },
            'the replica filling this blob is unreachable: taking its fill over',
          );
          claimed = await cluster.takeOver(claimKey, owner, req.repository);
        }
      }
      if ('held' in claimed) {
        // The previous owner may have stored it just before letting go.
        if (await this.#md.findBlob('', key)) {
          await claimed.held.release();
          throw new StoredElsewhere();
        }
        return this.#startUpstream(req, claimed.held);
      }
      if (!this.#peers || !claimed.owner.address) {
        if (await cluster.waitReleased(claimKey, this.#clusterWaitMs)) throw new StoredElsewhere();
        this.#logger.warn(
          { digest: key, owner: claimed.owner.instance, waitedMs: this.#clusterWaitMs },
          'another replica is still filling this blob: fetching it here too',
        );
        return this.#startUpstream(req, undefined);
      }
    }
    return this.#startUpstream(req, undefined);
  }

  /** A fill of another replica's fill: its bytes as they arrive there, verified here, stored by that replica (not here). */
  async #startFromReplica(req: Request, owner: ClaimOwner, source: FillSource): Promise<BlobFill> {
    const key = req.digest.value;
    if (owner.detail !== req.repository) {
      // The owner confirmed its own repository: this one must have the blob too.
      try {
        await this.#upstream.headBlob(req.repository, key);
      } catch (err) {
        source.abort(err as Error);
        throw err;
      }
    }
    const broke = { off: false };
    const fill = this.#newFill(req.digest, this.#resumable(req, owner, source, broke), undefined, undefined);
    this.#track(fill, req.repository, true);
    const repositories = new Set([req.repository]);
    const recorded = fill.finished.then(async () => {
      // An owner that broke off (died, or its fill failed) records nothing: nothing to wait for.
      if (fill.state !== 'verified' || broke.off) return;
      // Served: the owner records it. Once it has, the repositories confirmed here are linked too.
      await this.#cluster?.waitReleased(fillClaimKey(key), this.#clusterWaitMs);
      for (const repository of repositories) {
        if (repository === owner.detail) continue;
        await this.#md.linkBlob(repository, key).catch(() => undefined);
      }
    });
    return { fill, repositories, recorded, origin: { kind: 'replica', owner } };
  }

  /**
   * Another replica's stream, resumed from the upstream where it broke off (that replica died,
   * or its fill failed): the clients here get the whole blob, still verified end to end by
   * this fill. Not stored here (the next pull fills it again, claiming the digest afresh).
   */
  #resumable(req: Request, owner: ClaimOwner, peer: FillSource, broke: { off: boolean }): FillSource {
    let aborted: Error | undefined;
    let current = peer;
    const abortedWith = (): Error | undefined => aborted;
    const resume = async (received: number, err: unknown) => {
      broke.off = true;
      this.#logger.warn(
        { digest: req.digest.value, owner: owner.instance, received, err: (err as Error).message },
        'the replica filling this blob broke off: resuming from the upstream',
      );
      return received === 0
        ? this.#upstream.openBlob(req.repository, req.digest.value)
        : this.#upstream.openBlobFrom(req.repository, req.digest.value, received);
    };
    async function* chunks(): AsyncGenerator<Buffer> {
      let received = 0;
      try {
        for await (const chunk of peer.chunks) {
          received += chunk.length;
          yield chunk;
        }
        return;
      } catch (err) {
        const stop = abortedWith();
        if (stop) throw stop;
        current = await resume(received, err);
      }
      const stop = abortedWith();
      if (stop) {
        current.abort(stop);
        throw stop;
      }
      yield* current.chunks;
    }
    return {
      size: peer.size,
      chunks: chunks(),
      abort(reason) {
        aborted ??= reason;
        current.abort(reason);
      },
    };
  }

  async #startUpstream(req: Request, claim: HeldClaim | undefined): Promise<BlobFill> {
    try {
      const started = await this.#startUpstreamFill(req);
      void started.recorded.finally(() => claim?.release());
      return started;
    } catch (err) {
      await claim?.release();
      throw err;
    }
  }

  async #startUpstreamFill(req: Request): Promise<BlobFill> {
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
    this.#track(fill, req.repository, false);
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
    return { fill, repositories, recorded, origin: { kind: 'upstream' } };
  }

  /** Counts a fill as running until it is over (a shutdown cancels it, the dashboard shows it); one cancelled while its source was opening stops now. */
  #track(fill: Fill, repository: string, fromReplica: boolean): void {
    this.#running.set(fill, { startedAt: Date.now(), repository, fromReplica });
    void fill.stored.then(() => this.#running.delete(fill));
    if (this.#cancelled) fill.cancel(this.#cancelled);
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
  async #passThrough(req: Request, from: BlobFill, size: number | undefined, range: ByteRange | undefined): Promise<BlobResult | undefined> {
    const source = await this.#openAgain(req, from.origin);
    if (!source) return undefined;
    const fill = new Fill({
      digest: req.digest,
      source,
      writer: undefined,
      unstored: from.fill.storageFailure,
      deadline: this.#deadline,
      logger: this.#logger,
    });
    // Nothing has arrived, so nothing is dropped: the body is there.
    const body = fill.body(range?.start ?? 0, range?.end);
    if (!body) throw fill.failure();
    return { digest: req.digest.value, size: size ?? fill.size, range, body, cache: 'miss' };
  }

  /** The bytes again from where this fill got them: the upstream, or the replica that owns the fill (undefined once it is over there). */
  async #openAgain(req: Request, origin: FillOrigin): Promise<FillSource | undefined> {
    if (origin.kind === 'upstream') return this.#upstream.openBlob(req.repository, req.digest.value);
    if (!this.#peers) return undefined;
    try {
      const source = await this.#peers.open(origin.owner, req.digest.value);
      return source === 'gone' ? undefined : source;
    } catch (err) {
      // The owner is gone: nobody will store it soon, so this client gets a download of its own.
      if (isUnreachable(err)) return this.#upstream.openBlob(req.repository, req.digest.value);
      return undefined;
    }
  }

  async #fromFill(req: Request, joined: BlobFill): Promise<BlobResult | undefined> {
    const { fill, recorded } = joined;
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
      if (fill.passThrough && (fill.state !== 'failed' || fill.error === fill.storageFailure)) {
        const again = await this.#passThrough(req, joined, size, range);
        if (again) return again;
      }
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
