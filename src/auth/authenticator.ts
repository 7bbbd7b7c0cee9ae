import { createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { tokenKey } from './credential-files.js';
import { FailedLogins } from './failed-logins.js';
import { ANONYMOUS_PRINCIPAL, type Principal } from './types.js';

export interface AuthenticatorOptions {
  /** htpasswd users: name → bcrypt hash. */
  users: ReadonlyMap<string, string>;
  /** Static bearer tokens: sha256(token) → principal name. */
  tokens: ReadonlyMap<string, string>;
  /** How long a verified Basic credential is taken without running bcrypt again. */
  verifiedCacheMs: number;
  maxFailedLogins: number;
  failedLoginWindowMs: number;
  now: () => number;
  /** bcrypt's comparison (tests count its runs). */
  compare?: (password: string, hash: string) => Promise<boolean>;
}

export type Authentication =
  | { ok: true; principal: Principal }
  /** Credentials that are wrong, unknown or malformed. */
  | { ok: false; reason: 'invalid' }
  /** Too many failed logins from this address. */
  | { ok: false; reason: 'throttled'; retryAfterSeconds: number };

/** Verified credentials kept at most; past it the oldest go. */
const MAX_VERIFIED = 10_000;

/**
 * Turns an `Authorization` header into a principal: `Basic` against the htpasswd users
 * (what docker login, podman's auth.json and containerd's hosts.toml send), `Bearer`
 * against the static tokens. bcrypt is slow on purpose, so a verified credential is
 * remembered for a short while (keyed by an HMAC of the header under a per-process key:
 * no secret is kept in the clear) and concurrent checks of one credential share one
 * bcrypt run. Failed logins are counted per client address.
 */
export class Authenticator {
  readonly #users: ReadonlyMap<string, string>;
  readonly #tokens: ReadonlyMap<string, string>;
  readonly #verifiedCacheMs: number;
  readonly #now: () => number;
  readonly #compare: (password: string, hash: string) => Promise<boolean>;
  readonly #failures: FailedLogins;
  readonly #key = randomBytes(32);
  readonly #verified = new Map<string, { principal: Principal; until: number }>();
  readonly #checking = new Map<string, Promise<Principal | undefined>>();
  /** Compared against for an unknown user, so its answer takes as long as a known one's (no user enumeration by timing). */
  readonly #dummyHash: string;

  constructor(options: AuthenticatorOptions) {
    this.#users = options.users;
    this.#tokens = options.tokens;
    this.#verifiedCacheMs = options.verifiedCacheMs;
    this.#now = options.now;
    this.#compare = options.compare ?? ((password, hash) => bcrypt.compare(password, hash));
    this.#failures = new FailedLogins(options.maxFailedLogins, options.failedLoginWindowMs, options.now);
    const first = options.users.values().next();
    const cost = first.done ? 10 : bcrypt.getRounds(first.value);
    this.#dummyHash = bcrypt.hashSync(randomBytes(16).toString('hex'), cost);
  }

  /** No header: anonymous. A header: its principal, or why not. */
  async authenticate(authorization: string | undefined, address: string): Promise<Authentication> {
    if (authorization === undefined || authorization.trim() === '') return { ok: true, principal: ANONYMOUS_PRINCIPAL };
    // Checked before any cache: a locked-out address learns nothing, not even that a guess was right.
    const retryAfterSeconds = this.#failures.retryAfter(address);
    if (retryAfterSeconds !== undefined) return { ok: false, reason: 'throttled', retryAfterSeconds };
    const principal = await this.#verify(authorization.trim());
    if (principal) return { ok: true, principal };
    this.#failures.fail(address);
    return { ok: false, reason: 'invalid' };
  }

  async #verify(header: string): Promise<Principal | undefined> {
    const space = header.indexOf(' ');
    const scheme = (space < 0 ? header : header.slice(0, space)).toLowerCase();
    const credentials = space < 0 ? '' : header.slice(space + 1).trim();
    if (credentials === '') return undefined;
    if (scheme === 'bearer') {
      const name = this.#tokens.get(tokenKey(credentials));
      return name === undefined ? undefined : { name, authenticated: true };
    }
    if (scheme !== 'basic') return undefined;
    const key = createHmac('sha256', this.#key).update(credentials).digest('hex');
    const cached = this.#verified.get(key);
    if (cached && cached.until > this.#now()) return cached.principal;
    if (cached) this.#verified.delete(key);
    let checking = this.#checking.get(key);
    if (!checking) {
      checking = this.#checkBasic(credentials, key).finally(() => this.#checking.delete(key));
      this.#checking.set(key, checking);
    }
    return checking;
  }

  async #checkBasic(credentials: string, key: string): Promise<Principal | undefined> {
    const decoded = decodeBasic(credentials);
    if (!decoded) return undefined;
    const hash = this.#users.get(decoded.username);
    const matches = await this.#compare(decoded.password, hash ?? this.#dummyHash);
    if (!matches || hash === undefined) return undefined;
    const principal: Principal = { name: decoded.username, authenticated: true };
    if (this.#verifiedCacheMs > 0) {
      if (this.#verified.size >= MAX_VERIFIED) this.#verified.delete(this.#verified.keys().next().value as string);
      this.#verified.set(key, { principal, until: this.#now() + this.#verifiedCacheMs });
    }
    return principal;
  }
}

/** RFC 7617: base64 of `user:password` (the password may hold colons). */
function decodeBasic(credentials: string): { username: string; password: string } | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credentials)) return undefined;
  const text = Buffer.from(credentials, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
