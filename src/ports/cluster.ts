/**
 * The coordination port between replicas sharing one metadata database and one blob store.
 * A claim makes one instance the owner of a key (a blob fill, a manifest fetch, a tag
 * revalidation) until it lets go or stops renewing it (its heartbeat, every third of the
 * claim TTL, times out: a replica that died). Reads in progress are published so that the
 * maintenance leader never deletes a blob another replica is serving. The upstreams' pull
 * quota is shared state too. Implementations: `SoloCluster` (one process: every claim is
 * granted, nothing is shared), `MemoryCluster` (replicas in one process, for tests) and
 * `PostgresCluster`; the last two pass test/contract/cluster.contract.ts.
 */
export interface ClaimOwner {
  instance: string;
  /** The owner's internal URL (http://host:port), where another replica streams a fill from. */
  address: string | undefined;
  /** What the owner claimed it for (a blob fill: the repository whose request started it). */
  detail: string | undefined;
}

export interface HeldClaim {
  readonly key: string;
  /** Lets go of the claim (idempotent). */
  release(): Promise<void>;
}

export type ClaimResult = { held: HeldClaim } | { owner: ClaimOwner };

/** One upstream's pull quota as the replicas share it. `version` grows with every change. */
export interface SharedRateLimit {
  upstream: string;
  limit: number | undefined;
  remaining: number | undefined;
  windowSeconds: number | undefined;
  /** ms since the epoch; 0: not blocked. */
  blockedUntil: number;
  reason: string | undefined;
  version: number;
}

export type RateLimitUpdate = Omit<SharedRateLimit, 'version'>;

export interface Cluster {
  /** This instance's id (also its temp objects' and leases' id). */
  readonly instance: string;
  /** False for a single process: callers skip the round trips (the in-process single flight is enough). */
  readonly shared: boolean;
  /** Where other replicas reach this one (set once the listener is up). */
  setAddress(address: string | undefined): void;
  /** Claims key for this instance, or says who holds it. Renewed by the heartbeat until released. */
  claim(key: string, detail?: string): Promise<ClaimResult>;
  /** Takes key from an owner known to be dead (its address refused us): only if that owner still holds it. */
  takeOver(key: string, dead: ClaimOwner, detail?: string): Promise<ClaimResult>;
  /** Resolves true once nobody holds key (released, or its owner's heartbeat timed out), false after timeoutMs. */
  waitReleased(key: string, timeoutMs: number): Promise<boolean>;
  /** Publishes that this instance reads digest (before it opens it) until the returned function is called. */
  holdRead(digest: string): Promise<() => void>;
  /** True while another live instance reads digest or holds a claim on its fill. */
  inUseElsewhere(digest: string): Promise<boolean>;
  /** Writes an upstream's quota state; returns its new version. headroomOnly: the limit, remaining and window, leaving the block as it is. */
  publishRateLimit(update: RateLimitUpdate, options?: { headroomOnly?: boolean }): Promise<number>;
  /** Every upstream's shared quota state. */
  rateLimits(): Promise<SharedRateLimit[]>;
  /** Stops the heartbeat and releases what this instance holds. */
  close(): Promise<void>;
}

/** The key of a blob's fill claim. */
export const fillClaimKey = (digest: string): string => `blob:${digest}`;

/** The internal path a replica serves its fills (and stored blobs) on, to the other replicas. */
export const PEER_FILL_PATH = '/_cargohold/v1/fills/';
