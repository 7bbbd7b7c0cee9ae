import type { Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { TokenAuth, type Credentials } from './token-auth.js';
import { errorForNetworkFailure, errorForUpstreamStatus, headerValue, type ResourceKind } from './errors.js';
import { UpstreamError } from '../errors/upstream-error.js';
import { UPSTREAM_MANIFEST_ACCEPT } from '../oci/media-types.js';
import type { ManifestBody, ManifestHead, TagPage, Upstream } from '../core/upstream-port.js';
import { readLimited } from './read-limited.js';
import { openBlobStream, restOfBlob, type UpstreamBlobStream } from './blob-stream.js';
import { RegistryError } from '../errors/registry-error.js';
import type { ReferrerDescriptor } from '../oci/referrers.js';
import { listReferrers } from './referrers.js';
import { RateLimitTracker } from './rate-limit.js';
import { Egress, findInternalAddressError } from './egress.js';
import { routeFor } from './redirect-policy.js';
import { realmTrust } from './realm-trust.js';
import { deadlineSignal, withDeadline } from './deadline.js';
import { observed, requestKind, type UpstreamObserver } from './observe.js';

export interface UpstreamOptions {
  url: string;
  credentials?: Credentials | undefined;
  /** Origins allowed as token realms; default: the upstream's own origin and its registrable domain, auth.docker.io for Docker Hub (realm-trust.ts). */
  tokenRealmOrigins?: readonly string[] | undefined;
  /** Origins (a CDN) a redirect may lead to even if they resolve to internal addresses; the upstream's own origin always may. */
  redirectOrigins?: readonly string[] | undefined;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Total time a manifest, tag list, HEAD or token call may take, and a blob GET to its headers (default 10 s). */
  requestDeadlineMs?: number;
  /** The longest a 429 or a spent quota holds manifest GETs back, whatever Retry-After says (default 3600 s). */
  maxRetryAfterSeconds?: number;
  /** Never contact the upstream (offline mode): every request fails at once. */
  offline?: boolean;
  logger: Logger;
  now?: () => number;
  /** Told of every request sent upstream (metrics). */
  observe?: UpstreamObserver | undefined;
}

export interface UpstreamReply {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Dispatcher.ResponseData['body'];
}

export interface BlobStream {
  size: number | undefined;
  body: Readable;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
/** Failures of a reused connection, not of the upstream: worth one more try. */
const RETRYABLE = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/**
 * One upstream registry: pooled undici Agents, token auth, redirects followed by us
 * (dropping Authorization when the origin changes, as a CDN must never see it). A
 * redirect leads only to the upstream's origin, a configured redirect origin, or a host
 * whose addresses are all public (checked on the very addresses connected to: egress.ts).
 */
export class UpstreamClient implements Upstream {
  readonly url: URL;
  readonly #egress: Egress;
  readonly #redirectTrust: ReadonlySet<string>;
  readonly #auth: TokenAuth;
  readonly #logger: Logger;
  readonly #offline: boolean;
  readonly #deadlineMs: number;
  readonly #observe: UpstreamObserver | undefined;
  readonly rateLimit: RateLimitTracker;

  constructor(opts: UpstreamOptions) {
    this.url = new URL(opts.url);
    this.#logger = opts.logger;
    this.#offline = opts.offline ?? false;
    this.#deadlineMs = opts.requestDeadlineMs ?? 10_000;
    this.rateLimit = new RateLimitTracker(opts.logger, opts.now, opts.maxRetryAfterSeconds);
    this.#egress = new Egress(opts);
    this.#redirectTrust = new Set([this.url.origin, ...(opts.redirectOrigins ?? [])]);
    // A realm trusted only by default (auth.docker.io for Docker Hub) must still be a public host.
    const realmPool = new Set([this.url.origin, ...(opts.tokenRealmOrigins ?? [])]);
    this.#observe = opts.observe;
    this.#auth = new TokenAuth({
      dispatcherFor: (url) => this.#egress.realmDispatcher(this.url, url, realmPool),
      upstreamUrl: this.url,
      realms: realmTrust(this.url, opts.tokenRealmOrigins),
      credentials: opts.credentials,
      logger: opts.logger,
      deadlineMs: this.#deadlineMs,
      observe: opts.observe,
    });
  }

  async close(): Promise<void> {
    await this.#egress.close();
  }

  /** Fails every request in progress at once (a shutdown past its deadline); the client is unusable after. */
  abort(reason: Error): void {
    this.#egress.destroy(reason);
  }

  // Every call has a total deadline (deadline.ts): an upstream dripping bytes dodges the idle timeouts, not this.
  headManifest(repository: string, reference: string): Promise<ManifestHead> {
    return withDeadline('manifest', this.#deadlineMs, () => this.#headManifest(repository, reference));
  }

  getManifest(repository: string, reference: string, maxBytes: number): Promise<ManifestBody> {
    return withDeadline('manifest', this.#deadlineMs, () => this.#getManifest(repository, reference, maxBytes));
  }

  headBlob(repository: string, digest: string): Promise<{ size: number | undefined }> {
    return withDeadline('blob HEAD', this.#deadlineMs, () => this.#headBlob(repository, digest));
  }

  /** The deadline runs until the headers are in; the body is the fill's, which has its own. */
  getBlob(repository: string, digest: string): Promise<BlobStream> {
    return withDeadline('blob', this.#deadlineMs, () => this.#getBlob(repository, digest));
  }

  getBlobFrom(repository: string, digest: string, offset: number): Promise<Readable> {
    return withDeadline('blob', this.#deadlineMs, () => this.#getBlobFrom(repository, digest, offset));
  }

  listTags(repository: string, n: number | undefined, last: string | undefined): Promise<TagPage> {
    return withDeadline('tag list', this.#deadlineMs, () => this.#listTags(repository, n, last));
  }

  /** A request under /v2/<repository>/..., authenticated for pulling that repository. */
  async request(
    method: 'GET' | 'HEAD',
    repository: string,
    subpath: string,
    headers: Record<string, string> = {},
    what = subpath,
  ): Promise<UpstreamReply> {
    if (this.#offline) throw new UpstreamError('UNAVAILABLE', 'the mirror is offline and this content is not cached', 'offline');
    const scope = `repository:${repository}:pull`;
    const target = new URL(`${this.url.pathname.replace(/\/$/, '')}/v2/${repository}/${subpath}`, this.url);
    let authorization = await this.#auth.authorizationFor(scope);
    let reply = await this.#send(method, target, headers, authorization, what);
    if (reply.status === 401) {
      const retryWith = await this.#auth.answer(headerValue(reply.headers['www-authenticate']), scope, authorization);
      if (retryWith !== undefined) {
        await reply.body.dump();
        authorization = retryWith;
        reply = await this.#send(method, target, headers, authorization, what);
      }
    }
    return reply;
  }

  async #send(
    method: 'GET' | 'HEAD',
    start: URL,
    headers: Record<string, string>,
    authorization: string | undefined,
    what: string,
  ): Promise<UpstreamReply> {
    let url = start;
    let auth = authorization;
    let dispatcher: Dispatcher = this.#egress.trusted;
    for (let hop = 0; ; hop++) {
      const sent: Record<string, string> = { 'user-agent': 'cargohold', ...headers };
      if (auth) sent.authorization = auth;
      const res = await this.#dispatch(dispatcher, url, method, sent, what);
      const location = headerValue(res.headers.location);
      if (!REDIRECTS.has(res.statusCode) || !location) return { status: res.statusCode, headers: res.headers, body: res.body };
      await res.body.dump();
      if (hop >= MAX_REDIRECTS) throw new UpstreamError('UNAVAILABLE', 'upstream redirected too many times', 'invalid', { status: 502 });
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new UpstreamError('UNAVAILABLE', 'upstream redirected to an invalid URL', 'invalid', { status: 502 });
      }
      const route = routeFor(this.url, next, this.#redirectTrust);
      if ('refused' in route) throw this.#refused(next, route.refused, route.address);
      dispatcher = this.#egress[route.via];
      // Credentials belong to the upstream; another host (a CDN) never sees them.
      if (next.origin !== url.origin) auth = undefined;
      this.#logger.debug({ from: url.origin, to: next.origin, hop }, 'following upstream redirect');
      url = next;
    }
  }

  #refused(target: URL, why: string, address?: string): UpstreamError {
    this.#logger.warn(
      { target: `${target.protocol}//${target.host}${target.pathname}`, address, why },
      'refusing upstream redirect target (set upstream.redirectOrigins to trust it)',
    );
    return new UpstreamError('UNAVAILABLE', `upstream redirect target refused: ${why}`, 'refused', { status: 502 });
  }

  /**
   * One request; retried once when a pooled keep-alive connection turns out to be dead
   * (reset or closed before any answer). Timeouts are not retried: Docker must get its
   * answer within seconds.
   */
  async #dispatch(
    dispatcher: Dispatcher,
    url: URL,
    method: 'GET' | 'HEAD',
    headers: Record<string, string>,
    what: string,
  ): Promise<Dispatcher.ResponseData> {
    const signal = deadlineSignal();
    for (let attempt = 0; ; attempt++) {
      try {
        return await observed(this.#observe, requestKind(method, what), () =>
          dispatcher.request({ origin: url.origin, path: url.pathname + url.search, method, headers, signal }),
        );
      } catch (err) {
        if (signal?.aborted) throw signal.reason as Error;
        const internal = findInternalAddressError(err);
        if (internal) throw this.#refused(url, 'not a public address', internal.address);
        const code = (err as { code?: string }).code ?? '';
        if (attempt === 0 && RETRYABLE.has(code)) {
          this.#logger.debug({ code, what }, 'upstream connection failed; retrying once');
          continue;
        }
        throw errorForNetworkFailure(err, what, url.host);
      }
    }
  }

  async #headManifest(repository: string, reference: string): Promise<ManifestHead> {
    const reply = await this.request('HEAD', repository, `manifests/${reference}`, { accept: UPSTREAM_MANIFEST_ACCEPT }, 'manifest');
    await reply.body.dump();
    const headers = this.#observeQuota(reply);
    if (reply.status !== 200) throw errorForUpstreamStatus(reply.status, 'manifest', headers);
    const length = Number(headerValue(reply.headers['content-length']));
    return {
      digest: headerValue(reply.headers['docker-content-digest']),
      mediaType: headerValue(reply.headers['content-type']),
      size: Number.isFinite(length) ? length : undefined,
    };
  }

  /** GETs a manifest, refusing bodies over maxBytes before buffering them. */
  async #getManifest(repository: string, reference: string, maxBytes: number): Promise<ManifestBody> {
    const wait = this.rateLimit.blockedForSeconds();
    if (wait > 0) {
      throw new UpstreamError('TOOMANYREQUESTS', `upstream pull quota exhausted: no manifest GETs for ${wait} s`, 'rate-limited', {
        headers: { 'Retry-After': String(wait) },
      });
    }
    const reply = await this.request('GET', repository, `manifests/${reference}`, { accept: UPSTREAM_MANIFEST_ACCEPT }, 'manifest');
    const headers = this.#observeQuota(reply);
    if (reply.status !== 200) throw await this.#statusError({ ...reply, headers }, 'manifest');
    const tooLarge = () => new UpstreamError('MANIFEST_INVALID', `upstream manifest exceeds ${maxBytes} bytes`, 'invalid', { status: 502 });
    const bytes = await readLimited(reply, maxBytes, tooLarge, 'manifest body');
    return { bytes, contentType: headerValue(reply.headers['content-type']) };
  }

  async #headBlob(repository: string, digest: string): Promise<{ size: number | undefined }> {
    const reply = await this.request('HEAD', repository, `blobs/${digest}`, {}, 'blob');
    await reply.body.dump();
    if (reply.status !== 200) throw errorForUpstreamStatus(reply.status, 'blob', reply.headers);
    const length = Number(headerValue(reply.headers['content-length']));
    return { size: Number.isFinite(length) ? length : undefined };
  }

  async #getBlob(repository: string, digest: string): Promise<BlobStream> {
    const reply = await this.request('GET', repository, `blobs/${digest}`, {}, 'blob');
    if (reply.status !== 200) throw await this.#statusError(reply, 'blob');
    const length = Number(headerValue(reply.headers['content-length']));
    return { size: Number.isFinite(length) && headerValue(reply.headers['content-length']) !== undefined ? length : undefined, body: reply.body };
  }

  /** A blob's bytes, resumed with Range if the transfer breaks off (see blob-stream.ts). */
  openBlob(repository: string, digest: string): Promise<UpstreamBlobStream> {
    return openBlobStream(this, repository, digest, this.#logger);
  }

  async openBlobFrom(repository: string, digest: string, offset: number): Promise<UpstreamBlobStream> {
    const body = await this.getBlobFrom(repository, digest, offset).catch((err: unknown) => {
      throw err instanceof RegistryError ? err : errorForNetworkFailure(err, 'blob');
    });
    return restOfBlob(body);
  }

  /**
   * The rest of a blob from byte `offset` (a fill resuming after the upstream broke off):
   * `Range: bytes=offset-`, which must be answered 206 from exactly that offset. An
   * upstream that ignores Range (200) cannot resume: that is an error, not a restart.
   */
  async #getBlobFrom(repository: string, digest: string, offset: number): Promise<Readable> {
    const reply = await this.request('GET', repository, `blobs/${digest}`, { range: `bytes=${offset}-` }, 'blob');
    if (reply.status === 200) {
      await reply.body.dump();
      throw new UpstreamError('UNAVAILABLE', 'upstream does not support Range on blobs: cannot resume', 'invalid', { status: 502 });
    }
    if (reply.status !== 206) throw await this.#statusError(reply, 'blob');
    const start = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(headerValue(reply.headers['content-range']) ?? '')?.[1];
    if (start === undefined || Number(start) !== offset) {
      reply.body.destroy();
      throw new UpstreamError(
        'UNAVAILABLE',
        `upstream answered a Range from ${offset} with Content-Range "${headerValue(reply.headers['content-range']) ?? ''}"`,
        'invalid',
        { status: 502 },
      );
    }
    return reply.body;
  }

  /** One page of the upstream's tag list, passed on with its `Link` to the next page. */
  async #listTags(repository: string, n: number | undefined, last: string | undefined): Promise<TagPage> {
    const query = new URLSearchParams();
    if (n !== undefined) query.set('n', String(n));
    if (last !== undefined) query.set('last', last);
    const qs = query.size > 0 ? `?${query}` : '';
    const reply = await this.request('GET', repository, `tags/list${qs}`, { accept: 'application/json' }, 'tags');
    if (reply.status !== 200) throw await this.#statusError(reply, 'repository');
    let body: { tags?: unknown };
    try {
      body = (await reply.body.json()) as typeof body;
    } catch (err) {
      throw new UpstreamError('UNAVAILABLE', 'upstream sent an invalid tag list', 'invalid', { status: 502, cause: err });
    }
    const tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string') : [];
    return { tags, next: parseNextLink(headerValue(reply.headers.link)) };
  }

  /** The referrers API, every page (see referrers.ts); undefined when the upstream has none. */
  listReferrers(repository: string, digest: string, maxBytes: number): Promise<ReferrerDescriptor[] | undefined> {
    return withDeadline('referrers', this.#deadlineMs, () => listReferrers(this, repository, digest, maxBytes));
  }

  /** Notes the quota headers; a 429 passes on our block (capped) as its Retry-After, not the upstream's raw value. */
  #observeQuota(reply: UpstreamReply): UpstreamReply['headers'] {
    const blockedFor = this.rateLimit.observe(reply.status, reply.headers);
    return reply.status === 429 && blockedFor !== undefined ? { ...reply.headers, 'retry-after': String(blockedFor) } : reply.headers;
  }

  async #statusError(reply: UpstreamReply, kind: ResourceKind): Promise<UpstreamError> {
    let upstreamCode: string | undefined;
    try {
      const text = await reply.body.text();
      const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown }> };
      const code = parsed.errors?.[0]?.code;
      if (typeof code === 'string') upstreamCode = code;
    } catch {
      // the body is only a hint
    }
    return errorForUpstreamStatus(reply.status, kind, reply.headers, upstreamCode);
  }
}

/** Reads `<...?n=..&last=..>; rel="next"` from an upstream Link header. */
export function parseNextLink(link: string | undefined): { n?: number; last: string } | undefined {
  if (!link) return undefined;
  const match = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link);
  if (!match) return undefined;
  const url = new URL(match[1] as string, 'http://upstream.invalid');
  const last = url.searchParams.get('last');
  if (last === null) return undefined;
  const n = Number(url.searchParams.get('n'));
  return Number.isInteger(n) && n > 0 ? { n, last } : { last };
}
