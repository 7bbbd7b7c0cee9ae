import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import { parseChallenges, type Challenge } from './challenge.js';
import { SingleFlight } from '../util/single-flight.js';
import { TokenCache } from './token-cache.js';
import { errorForNetworkFailure } from './errors.js';
import { observed, type UpstreamObserver } from './observe.js';
import { UpstreamError } from '../errors/upstream-error.js';
import { findInternalAddressError } from './egress.js';
import { deadlineSignal, withDeadline } from './deadline.js';
import type { RealmTrust } from './realm-trust.js';

export interface Credentials {
  username: string;
  password: string;
}

export interface TokenAuthOptions {
  /** The pool for a realm URL; may throw InternalAddressError (a realm trusted only by default must be a public host). */
  dispatcherFor: (url: URL) => Dispatcher;
  upstreamUrl: URL;
  /** The Bearer token realms allowed (credentials go to these only), and whether the registry itself may get Basic. */
  realms: RealmTrust;
  credentials: Credentials | undefined;
  logger: Logger;
  /** Total time a token fetch may take (shared by its callers, so it has its own deadline). */
  deadlineMs?: number;
  /** Told of every token request (metrics). */
  observe?: UpstreamObserver | undefined;
}

/** Remembered challenges are per repository scope; past this many, the oldest are forgotten. */
const MAX_REMEMBERED_SCOPES = 10_000;

/**
 * Answers the upstream's auth challenges: Bearer tokens per scope from the realm
 * (cached, one fetch at a time per key) or Basic credentials. Remembers each scope's
 * challenge once answered, so later requests carry credentials from the start instead of
 * a 401 round trip. Nothing one scope's challenge said decides another's, except that a
 * Bearer challenge which earned a token from a trusted realm lets other scopes fetch
 * their token from that realm up front (the realm is where credentials belong anyway).
 */
export class TokenAuth {
  readonly #opts: TokenAuthOptions;
  readonly #cache = new TokenCache();
  readonly #fetches = new SingleFlight<string>();
  readonly #challenges = new Map<string, Challenge>();
  #bearerTemplate: Challenge | undefined;

  constructor(opts: TokenAuthOptions) {
    this.#opts = opts;
  }

  /** The Authorization header to send up front for this scope, if we know how. */
  async authorizationFor(scope: string): Promise<string | undefined> {
    const challenge = this.#challenges.get(scope) ?? this.#bearerTemplate;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') return this.#basic();
    if (challenge.scheme === 'bearer') return `Bearer ${await this.#token(challenge, scope, false)}`;
    return undefined;
  }

  /**
   * After a 401: learns the challenge and returns the header to retry with,
   * or undefined when retrying cannot help.
   */
  async answer(wwwAuthenticate: string | undefined, scope: string, sent: string | undefined): Promise<string | undefined> {
    const challenges = parseChallenges(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    if (bearer) {
      // A token we just sent was refused: fetch a fresh one, once.
      const forceFresh = sent?.startsWith('Bearer ') ?? false;
      // Throws for an untrusted realm: then nothing is remembered, for this scope or any other.
      const token = await this.#token(bearer, bearer.params.scope ?? scope, forceFresh, scope);
      this.#remember(scope, bearer);
      this.#bearerTemplate = bearer;
      const header = `Bearer ${token}`;
      return header === sent ? undefined : header;
    }
    if (basic) {
      const header = this.#basic();
      if (header === undefined) return undefined;
      if (!this.#opts.realms.basicToRegistry) {
        // Docker Hub (or any upstream whose realm is elsewhere) never gets the password itself.
        this.#opts.logger.warn(
          { scope, allowed: this.#opts.realms.describe },
          'not sending credentials as Basic to the upstream registry: its trusted token realm is elsewhere (list its origin in upstream.tokenRealmOrigins to allow it)',
        );
        return undefined;
      }
      this.#remember(scope, basic);
      return header === sent ? undefined : header;
    }
    return undefined;
  }

  #remember(scope: string, challenge: Challenge): void {
    this.#challenges.delete(scope);
    this.#challenges.set(scope, challenge);
    if (this.#challenges.size > MAX_REMEMBERED_SCOPES) {
      const oldest = this.#challenges.keys().next().value;
      if (oldest !== undefined) this.#challenges.delete(oldest);
    }
  }

  #basic(): string | undefined {
    const creds = this.#opts.credentials;
    if (!creds) return undefined;
    return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  }

  async #token(challenge: Challenge, challengeScope: string, forceFresh: boolean, cacheScope = challengeScope): Promise<string> {
    const realm = challenge.params.realm ?? '';
    const service = challenge.params.service ?? '';
    const key = TokenCache.key(realm, service, cacheScope, this.#opts.credentials?.username ?? '');
    if (!forceFresh) {
      const cached = this.#cache.get(key);
      if (cached) return cached;
    }
    return this.#fetches.run(key, async () => {
      const { token, expiresIn } = await withDeadline('token request', this.#opts.deadlineMs ?? 10_000, () =>
        this.#fetchToken(realm, service, challengeScope),
      );
      this.#cache.set(key, token, expiresIn);
      return token;
    });
  }

  async #fetchToken(realm: string, service: string, scope: string): Promise<{ token: string; expiresIn: number }> {
    const url = this.#checkRealm(realm);
    if (service) url.searchParams.set('service', service);
    if (scope) url.searchParams.set('scope', scope);
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'cargohold' };
    const basic = this.#basic();
    if (basic) headers.authorization = basic;
    let res: Dispatcher.ResponseData;
    try {
      res = await observed(this.#opts.observe, 'token', () =>
        this.#opts.dispatcherFor(url).request({
          origin: url.origin,
          path: url.pathname + url.search,
          method: 'GET',
          headers,
          signal: deadlineSignal(),
        }),
      );
    } catch (err) {
      const internal = findInternalAddressError(err);
      if (internal) {
        this.#opts.logger.warn(
          { realm: url.origin + url.pathname, address: internal.address },
          'refusing upstream token realm: not a public address (list it in upstream.tokenRealmOrigins to trust it)',
        );
        throw new UpstreamError('UNAVAILABLE', 'upstream token realm refused: not a public address', 'refused', { status: 502 });
      }
      throw errorForNetworkFailure(err, 'token realm', url.host);
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      const code = res.statusCode === 401 ? 'UNAUTHORIZED' : res.statusCode === 403 ? 'DENIED' : 'UNAVAILABLE';
      this.#opts.logger.warn({ realm: url.origin + url.pathname, status: res.statusCode }, 'upstream token realm refused the token request');
      throw new UpstreamError(code, `upstream token realm answered ${res.statusCode}`, 'auth', { upstreamStatus: res.statusCode });
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = (await res.body.json()) as typeof body;
    } catch (err) {
      throw new UpstreamError('UNAVAILABLE', 'upstream token realm sent invalid JSON', 'auth', { cause: err });
    }
    const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
    if (!token) throw new UpstreamError('UNAVAILABLE', 'upstream token realm sent no token', 'auth');
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 60;
    return { token, expiresIn };
  }

  /** Credentials and our trust go only to the realm this upstream is expected to use. */
  #checkRealm(realm: string): URL {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new UpstreamError('UNAVAILABLE', 'upstream sent an invalid token realm', 'auth');
    }
    const plainHttpAllowed = this.#opts.upstreamUrl.protocol === 'http:';
    const schemeOk = url.protocol === 'https:' || (url.protocol === 'http:' && plainHttpAllowed);
    if (!schemeOk || !this.#opts.realms.allows(url)) {
      this.#opts.logger.error(
        { realm: url.origin, allowed: this.#opts.realms.describe },
        'refusing upstream token realm: not an allowed realm for this upstream (set upstream.tokenRealmOrigins to trust it)',
      );
      throw new UpstreamError('UNAVAILABLE', 'upstream token realm is not trusted', 'auth');
    }
    return url;
  }
}
