import { Pool, type QueryResult, type QueryResultRow } from 'pg';
import { StorageError } from '../errors/storage-error.js';
import type { Cluster, ClaimOwner, ClaimResult, HeldClaim, RateLimitUpdate, SharedRateLimit } from '../ports/cluster.js';
import { fillClaimKey } from '../ports/cluster.js';
import { RefCounts } from './ref-counts.js';

/** The database's clock in ms: replicas compare expiry times on one clock, whatever theirs say. */
const NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

const SQL = {
  // Free, expired, or ours already: taken (one statement, so of two racing replicas exactly one wins).
  claim: `INSERT INTO cluster_claims (key, instance, address, detail, expires_at) VALUES ($1, $2, $3, $4, ${NOW} + $5)
    ON CONFLICT (key) DO UPDATE SET instance = excluded.instance, address = excluded.address, detail = excluded.detail, expires_at = excluded.expires_at
    WHERE cluster_claims.instance = excluded.instance OR cluster_claims.expires_at <= ${NOW}
    RETURNING instance`,
  owner: `SELECT instance, address, detail FROM cluster_claims WHERE key = $1 AND expires_at > ${NOW}`,
  takeOver: `DELETE FROM cluster_claims WHERE key = $1 AND instance = $2`,
  release: `DELETE FROM cluster_claims WHERE key = $1 AND instance = $2`,
  renewClaims: `UPDATE cluster_claims SET expires_at = ${NOW} + $2 WHERE instance = $1 AND key = ANY($3)`,
  holdRead: `INSERT INTO cluster_reads (digest, instance, expires_at) VALUES ($1, $2, ${NOW} + $3)
    ON CONFLICT (digest, instance) DO UPDATE SET expires_at = excluded.expires_at`,
  releaseRead: `DELETE FROM cluster_reads WHERE digest = $1 AND instance = $2`,
  renewReads: `UPDATE cluster_reads SET expires_at = ${NOW} + $2 WHERE instance = $1 AND digest = ANY($3)`,
  inUseElsewhere: `SELECT EXISTS (SELECT 1 FROM cluster_reads WHERE digest = $1 AND instance <> $2 AND expires_at > ${NOW})
    OR EXISTS (SELECT 1 FROM cluster_claims WHERE key = $3 AND instance <> $2 AND expires_at > ${NOW}) AS used`,
  expire: `WITH c AS (DELETE FROM cluster_claims WHERE expires_at <= ${NOW} - $1) DELETE FROM cluster_reads WHERE expires_at <= ${NOW} - $1`,
  publishRateLimit: `INSERT INTO cluster_rate_limits (upstream, limit_value, remaining, window_seconds, blocked_until, reason, version)
    VALUES ($1, $2, $3, $4, $5, $6, 1)
    ON CONFLICT (upstream) DO UPDATE SET limit_value = excluded.limit_value, remaining = excluded.remaining,
      window_seconds = excluded.window_seconds,
      blocked_until = CASE WHEN $7 THEN cluster_rate_limits.blocked_until ELSE excluded.blocked_until END,
      reason = CASE WHEN $7 THEN cluster_rate_limits.reason ELSE excluded.reason END,
      version = cluster_rate_limits.version + 1
    RETURNING version`,
  rateLimits: `SELECT upstream, limit_value, remaining, window_seconds, blocked_until, reason, version FROM cluster_rate_limits`,
  releaseAll: `WITH c AS (DELETE FROM cluster_claims WHERE instance = $1) DELETE FROM cluster_reads WHERE instance = $1`,
} as const;

const POLL_MS = 100;

export interface PostgresClusterOptions {
  /** The metadata database's URL (its migrations made the tables). */
  url: string;
  instance: string;
  /** A claim or read not renewed for this long belongs to a dead replica. */
  ttlMs: number;
  /** Connections of its own: claims never wait behind the metadata's queries. */
  poolSize?: number;
}

const orUndefined = <T>(v: T | null): T | undefined => (v === null ? undefined : v);

/**
 * The coordination port on PostgreSQL: claims and reads are rows with an expiry on the
 * database's clock, renewed by one heartbeat per replica (every third of the TTL) for
 * everything it holds, so a replica that dies loses them after the TTL and another takes
 * over. Claiming is one upsert that only wins a free or expired row.
 */
export class PostgresCluster implements Cluster {
  readonly instance: string;
  readonly shared = true;
  readonly #pool: Pool;
  readonly #ttlMs: number;
  readonly #held = new Set<string>();
  readonly #reading = new RefCounts();
  readonly #timer: NodeJS.Timeout;
  #address: string | undefined;
  #closed = false;

  constructor(options: PostgresClusterOptions) {
    this.instance = options.instance;
    this.#ttlMs = options.ttlMs;
    this.#pool = new Pool({
      connectionString: options.url,
      max: options.poolSize ?? 4,
      application_name: 'cargohold-cluster',
      connectionTimeoutMillis: 10_000,
    });
    this.#pool.on('error', () => undefined);
    this.#timer = setInterval(() => void this.#renew().catch(() => undefined), Math.max(50, Math.floor(options.ttlMs / 3)));
    this.#timer.unref();
  }

  setAddress(address: string | undefined): void {
    this.#address = address;
  }

  /** Stops renewing (the tests' replica that hangs): its claims and reads expire after the TTL. */
  stall(): void {
    clearInterval(this.#timer);
  }

  /** Every failure of the database is a StorageError (a 503 saying the mirror's storage failed), as the metadata's are. */
  async #q<R extends QueryResultRow>(text: string, values: unknown[] = []): Promise<QueryResult<R>> {
    try {
      return await this.#pool.query<R>(text, values);
    } catch (err) {
      throw new StorageError('cluster: coordinate with the other replicas', err);
    }
  }

  async #renew(): Promise<void> {
    if (this.#closed) return;
    if (this.#held.size > 0) await this.#pool.query(SQL.renewClaims, [this.instance, this.#ttlMs, [...this.#held]]);
    if (this.#reading.size > 0) await this.#pool.query(SQL.renewReads, [this.instance, this.#ttlMs, this.#reading.keys()]);
    // Rows of replicas long dead: nobody would ever read them again.
    if (Math.random() < 0.05) await this.#pool.query(SQL.expire, [this.#ttlMs * 10]);
  }

  async claim(key: string, detail?: string): Promise<ClaimResult> {
    for (;;) {
      const won = await this.#q(SQL.claim, [key, this.instance, this.#address ?? null, detail ?? null, this.#ttlMs]);
      if (won.rowCount === 1) return { held: this.#heldClaim(key) };
      const owner = await this.#q<{ instance: string; address: string | null; detail: string | null }>(SQL.owner, [key]);
      const row = owner.rows[0];
      // Released or expired between the two statements: try again.
      if (row) return { owner: { instance: row.instance, address: orUndefined(row.address), detail: orUndefined(row.detail) } };
    }
  }

  async takeOver(key: string, dead: ClaimOwner, detail?: string): Promise<ClaimResult> {
    await this.#q(SQL.takeOver, [key, dead.instance]);
    return this.claim(key, detail);
  }

  #heldClaim(key: string): HeldClaim {
    this.#held.add(key);
    let released: Promise<void> | undefined;
    return {
      key,
      release: () =>
        (released ??= (async () => {
          this.#held.delete(key);
          if (this.#closed) return;
          // A release that fails leaves the row to expire: the others wait the TTL, nothing worse.
          await this.#pool.query(SQL.release, [key, this.instance]).then(
            () => undefined,
            () => undefined,
          );
        })()),
    };
  }

  async waitReleased(key: string, timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const owner = await this.#q(SQL.owner, [key]);
      if (owner.rowCount === 0) return true;
      if (Date.now() >= until) return false;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async holdRead(digest: string): Promise<() => void> {
    // Not published (the database is failing): the read goes on; the metadata fails soon enough if it is down.
    if (this.#reading.take(digest)) await this.#pool.query(SQL.holdRead, [digest, this.instance, this.#ttlMs]).catch(() => undefined);
    return this.#reading.releaser(digest, () => {
      if (!this.#closed) void this.#pool.query(SQL.releaseRead, [digest, this.instance]).catch(() => undefined);
    });
  }

  async inUseElsewhere(digest: string): Promise<boolean> {
    const result = await this.#q<{ used: boolean }>(SQL.inUseElsewhere, [digest, this.instance, fillClaimKey(digest)]);
    return result.rows[0]?.used === true;
  }

  async publishRateLimit(update: RateLimitUpdate, options: { headroomOnly?: boolean } = {}): Promise<number> {
    const result = await this.#q<{ version: string }>(SQL.publishRateLimit, [
      update.upstream,
      update.limit ?? null,
      update.remaining ?? null,
      update.windowSeconds ?? null,
      update.blockedUntil,
      update.reason ?? null,
      options.headroomOnly === true,
    ]);
    return Number(result.rows[0]?.version);
  }

  async rateLimits(): Promise<SharedRateLimit[]> {
    const result = await this.#q<{
      upstream: string;
      limit_value: string | null;
      remaining: string | null;
      window_seconds: string | null;
      blocked_until: string;
      reason: string | null;
      version: string;
    }>(SQL.rateLimits);
    const num = (v: string | null) => (v === null ? undefined : Number(v));
    return result.rows.map((r) => ({
      upstream: r.upstream,
      limit: num(r.limit_value),
      remaining: num(r.remaining),
      windowSeconds: num(r.window_seconds),
      blockedUntil: Number(r.blocked_until),
      reason: orUndefined(r.reason),
      version: Number(r.version),
    }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#timer);
    await this.#pool.query(SQL.releaseAll, [this.instance]).catch(() => undefined);
    this.#closed = true;
    this.#held.clear();
    this.#reading.clear();
    await this.#pool.end().catch(() => undefined);
  }
}
