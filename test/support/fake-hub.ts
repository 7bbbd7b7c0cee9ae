import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Image, Manifest, MultiArch } from '../fixtures/images.js';

/**
 * A Docker-Hub-like upstream for what no local real registry does: a token realm on
 * its own port, blob GETs redirected (307) to a separate "CDN" that rejects any request
 * carrying Authorization, and injected faults. It counts every request it receives.
 */
export interface HubRequest {
  server: 'registry' | 'realm' | 'cdn';
  method: string;
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

export interface FaultReply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Send the headers at once, then the body one byte every this many ms (an upstream dripping just fast enough to dodge idle timeouts). */
  dripEveryMs?: number;
}

type Fault = (req: HubRequest) => FaultReply | 'hang' | 'reset' | undefined;

interface Repo {
  tags: Map<string, string>;
  manifests: Set<string>;
  blobs: Set<string>;
}

export interface BlobBehaviour {
  /** Serve these bytes instead of the real ones (a digest mismatch). */
  corrupt?: boolean;
  /** Send the blob up to this offset (0: the headers only), then wait for `release` before sending the rest (a GET from beyond it does not pause). */
  pauseAfter?: number;
  release?: Promise<void>;
  /** Send the blob up to this byte offset, then reset the connection (a resumed GET from there on resets at once). */
  resetAfter?: number;
  /** How many GETs resetAfter applies to (default: all of them). */
  resets?: number;
  /** Answer a Range request with the whole blob (200), as a server without Range support does. */
  ignoreRange?: boolean;
  /** Send this many bytes and end the response early (truncated, chunked without a length). */
  truncateAt?: number;
  /** Omit Content-Length (chunked). */
  noLength?: boolean;
  /** Send the blob one KiB at a time, one every this many ms (an upstream that drips just fast enough to dodge idle timeouts). */
  dripEveryMs?: number;
}

export class FakeHub {
  readonly requests: HubRequest[] = [];
  readonly repos = new Map<string, Repo>();
  readonly manifests = new Map<string, Manifest>();
  readonly blobs = new Map<string, Buffer>();
  readonly blobBehaviour = new Map<string, BlobBehaviour>();
  /** Return a reply to short-circuit a registry request (429, 500, hang...). */
  fault: Fault | undefined;
  /** Holds a registry request until the promise it returns settles (undefined: answered at once), after it is counted. */
  gate: ((req: HubRequest) => Promise<void> | undefined) | undefined;
  /** The same for the token realm. */
  realmFault: Fault | undefined;
  /** Dripped fault replies whose connection is still open. */
  dripping = 0;
  credentials: { username: string; password: string } | undefined;
  tokenLifetimeSeconds = 300;
  /** Docker Hub's pull quota: manifest GETs spend it (HEADs do not); at 0, GETs get 429. */
  pullQuota: { limit: number; remaining: number } | undefined;
  /** 'basic': the registry itself asks for Basic credentials (no token realm), as some private registries do. */
  authMode: 'bearer' | 'basic' = 'bearer';
  /** Where the challenge's realm points (defaults to our realm server). */
  realmOverride: string | undefined;
  /** Per repository: where its challenge's realm points (wins over realmOverride). */
  readonly realmOverrides = new Map<string, string>();
  /** Where a blob GET is redirected (default: our CDN). */
  blobLocation: ((digest: string) => string) | undefined;
  /**
   * How tags/list answers: 'paged' honours n and last (sorted, Link to the next page);
   * 'unpaged' ignores both and sends every tag in push order, as distribution 2.8 does;
   * 'self-link' is unpaged with a Link back to the very page asked for (a broken upstream).
   */
  tagPaging: 'paged' | 'unpaged' | 'self-link' = 'paged';
  /** Serve the referrers API (distribution-spec 1.1); off, referrers paths get distribution 2.8's plain 404. */
  referrersApi = false;
  /** With the referrers API: descriptors per page, the next page named by Link. */
  referrersPageSize: number | undefined;

  #registry!: Server;
  #realm!: Server;
  #cdn!: Server;
  #registryPort = 0;
  #sockets = new Set<Socket>();

  static async start(): Promise<FakeHub> {
    const hub = new FakeHub();
    hub.#realm = await listen(
      createServer((req, res) => hub.#onRealm(req, res)),
      0,
      hub.#sockets,
    );
    hub.#cdn = await listen(
      createServer((req, res) => hub.#onCdn(req, res)),
      0,
      hub.#sockets,
    );
    await hub.startRegistry();
    return hub;
  }

  get registryUrl(): string {
    return `http://127.0.0.1:${this.#registryPort}`;
  }

  get realmUrl(): string {
    return `http://127.0.0.1:${(this.#realm.address() as AddressInfo).port}`;
  }

  get cdnUrl(): string {
    return `http://127.0.0.1:${(this.#cdn.address() as AddressInfo).port}`;
  }

  /** The upstream config that trusts this hub's realm and CDN (both on loopback, so refused unless listed). */
  get trusted(): { tokenRealmOrigins: string[]; redirectOrigins: string[] } {
    return { tokenRealmOrigins: [this.realmUrl], redirectOrigins: [this.cdnUrl] };
  }

  async startRegistry(): Promise<void> {
    this.#registry = await listen(
      createServer((req, res) => this.#onRegistry(req, res)),
      this.#registryPort,
      this.#sockets,
    );
    this.#registryPort = (this.#registry.address() as AddressInfo).port;
  }

  /** Stops the registry (not the realm or CDN): connections are refused until startRegistry. */
  async stopRegistry(): Promise<void> {
    await close(this.#registry);
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all([close(this.#registry), close(this.#realm), close(this.#cdn)]);
  }

  #repo(name: string): Repo {
    let repo = this.repos.get(name);
    if (!repo) {
      repo = { tags: new Map(), manifests: new Set(), blobs: new Set() };
      this.repos.set(name, repo);
    }
    return repo;
  }

  /** Pushes an image (or a multi-arch index with its images) under repo:tag. */
  push(repository: string, tag: string | undefined, content: Image | MultiArch): void {
    const repo = this.#repo(repository);
    const images = 'index' in content ? content.images.map((e) => e.image) : [content];
    for (const img of images) {
      this.manifests.set(img.manifest.digest, img.manifest);
      repo.manifests.add(img.manifest.digest);
      for (const b of img.blobs) {
        this.blobs.set(b.digest, b.bytes);
        repo.blobs.add(b.digest);
      }
    }
    const top = 'index' in content ? content.index : content.manifest;
    this.manifests.set(top.digest, top);
    repo.manifests.add(top.digest);
    if (tag !== undefined) repo.tags.set(tag, top.digest);
  }

  /** Pushes one manifest (an artifact's index, say) under a tag; the blobs and manifests it names must be pushed already. */
  pushManifest(repository: string, tag: string, manifest: Manifest): void {
    const repo = this.#repo(repository);
    this.manifests.set(manifest.digest, manifest);
    repo.manifests.add(manifest.digest);
    repo.tags.set(tag, manifest.digest);
  }

  /** Requests that reached a server, filtered. */
  count(filter: Partial<Pick<HubRequest, 'server' | 'method'>> & { path?: string | RegExp } = {}): number {
    return this.requests.filter(
      (r) =>
        (filter.server === undefined || r.server === filter.server) &&
        (filter.method === undefined || r.method === filter.method) &&
        (filter.path === undefined || (typeof filter.path === 'string' ? r.path === filter.path : filter.path.test(r.path))),
    ).length;
  }

  resetCounts(): void {
    this.requests.length = 0;
  }

  #record(server: HubRequest['server'], req: IncomingMessage): HubRequest {
    const entry = { server, method: req.method ?? 'GET', path: req.url ?? '/', authorization: req.headers.authorization, range: req.headers.range };
    this.requests.push(entry);
    return entry;
  }

  #onRealm(req: IncomingMessage, res: ServerResponse): void {
    const entry = this.#record('realm', req);
    if (this.#faulted(this.realmFault?.(entry), req, res)) return;
    const url = new URL(req.url ?? '/', 'http://realm');
    if (this.credentials) {
      const expected = `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return json(res, 401, { details: 'incorrect username or password' });
    }
    const scope = url.searchParams.get('scope') ?? '';
    const token = Buffer.from(JSON.stringify({ scope, user: this.credentials?.username ?? null })).toString('base64url');
    json(res, 200, { token, access_token: token, expires_in: this.tokenLifetimeSeconds, issued_at: new Date().toISOString() });
  }

  #onCdn(req: IncomingMessage, res: ServerResponse): void {
    this.#record('cdn', req);
    if (req.headers.authorization) return json(res, 400, { error: 'the CDN must never receive Authorization' });
    const digest = /^\/blobs\/([^?]+)/.exec(req.url ?? '')?.[1] ?? '';
    const bytes = this.blobs.get(digest);
    if (!bytes) return json(res, 404, { error: 'no such blob' });
    const behaviour = this.blobBehaviour.get(digest) ?? {};
    const whole = behaviour.corrupt ? Buffer.from(bytes).fill(0x41, 0, Math.min(16, bytes.length)) : bytes;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    // Like S3 or a CDN: `Range: bytes=N-` is answered 206 with the rest of the blob.
    const from = behaviour.ignoreRange ? undefined : /^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1];
    const start = from === undefined ? 0 : Number(from);
    if (from !== undefined && start >= whole.length)
      return json(res, 416, { error: 'range not satisfiable' }, { 'content-range': `bytes */${whole.length}` });
    const body = whole.subarray(start);
    if (!behaviour.noLength && behaviour.truncateAt === undefined) headers['content-length'] = String(body.length);
    if (from !== undefined) headers['content-range'] = `bytes ${start}-${whole.length - 1}/${whole.length}`;
    res.writeHead(from === undefined ? 200 : 206, headers);
    if (req.method === 'HEAD') return void res.end();
    let reset = behaviour.resetAfter;
    if (reset !== undefined) {
      const gets = this.requests.filter((r) => r.server === 'cdn' && r.method === 'GET' && r.path.startsWith(`/blobs/${digest}`)).length;
      if (behaviour.resets !== undefined && gets > behaviour.resets) reset = undefined;
    }
    void sendBody(res, body, { ...behaviour, resetAfter: reset === undefined ? undefined : Math.max(0, reset - start) }, start);
  }

  #onRegistry(req: IncomingMessage, res: ServerResponse): void {
    const entry = this.#record('registry', req);
    const held = this.gate?.(entry);
    if (held) {
      void held.then(() => this.#answerRegistry(entry, req, res));
      return;
    }
    this.#answerRegistry(entry, req, res);
  }

  #answerRegistry(entry: HubRequest, req: IncomingMessage, res: ServerResponse): void {
    if (this.#faulted(this.fault?.(entry), req, res)) return;
    const url = new URL(req.url ?? '/', 'http://registry');
    const match = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/([^/]+)$/.exec(url.pathname);
    const repository = match?.[1];
    const scope = repository ? `repository:${repository}:pull` : '';
    if (this.authMode === 'basic') {
      const expected = this.credentials && `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="fake-hub"' });
        return void res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      }
    } else if (!this.#authorized(req.headers.authorization, scope)) {
      const realm = this.realmOverrides.get(repository ?? '') ?? this.realmOverride ?? `${this.realmUrl}/token`;
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="${realm}",service="fake-hub"${scope ? `,scope="${scope}"` : ''}`,
      });
      return void res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
    }
    if (url.pathname === '/v2/' || url.pathname === '/v2') return json(res, 200, {});
    if (!match || !repository) return json(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'no route' }] });
    const repo = this.repos.get(repository);
    const [, , area, ref = ''] = match;
    if (area === 'tags') return this.#tags(res, repository, repo, url);
    if (area === 'referrers') return this.#referrers(res, repository, repo, ref, url);
    if (area === 'manifests') return this.#manifest(req, res, repo, ref);
    return this.#blob(req, res, repo, ref);
  }

  /** Answers with an injected fault; false when there is none. */
  #faulted(faulted: ReturnType<Fault>, req: IncomingMessage, res: ServerResponse): boolean {
    if (!faulted) return false;
    if (faulted === 'hang') return true;
    if (faulted === 'reset') {
      req.socket.destroy();
      return true;
    }
    res.writeHead(faulted.status, { 'content-type': 'application/json', ...faulted.headers });
    const body = Buffer.from(faulted.body ?? JSON.stringify({ errors: [{ code: 'FAULT', message: 'injected' }] }));
    if (faulted.dripEveryMs === undefined) {
      res.end(body);
      return true;
    }
    res.flushHeaders();
    this.dripping++;
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= body.length) return void res.end();
      res.write(body.subarray(sent, ++sent));
    }, faulted.dripEveryMs);
    res.once('close', () => {
      clearInterval(timer);
      this.dripping--;
    });
    return true;
  }

  #authorized(header: string | undefined, scope: string): boolean {
    const token = /^Bearer (.+)$/.exec(header ?? '')?.[1];
    if (!token) return false;
    try {
      const claims = JSON.parse(Buffer.from(token, 'base64url').toString()) as { scope: string };
      return scope === '' || claims.scope === scope;
    } catch {
      return false;
    }
  }

  #manifest(req: IncomingMessage, res: ServerResponse, repo: Repo | undefined, ref: string): void {
    const digest = ref.includes(':') ? ref : repo?.tags.get(ref);
    const manifest = digest && repo?.manifests.has(digest) ? this.manifests.get(digest) : undefined;
    const quota = this.pullQuota;
    const quotaHeaders: Record<string, string> = {};
    if (quota) {
      if (req.method === 'GET') {
        if (quota.remaining <= 0)
          return json(res, 429, { errors: [{ code: 'TOOMANYREQUESTS', message: 'pull rate limit' }] }, { 'retry-after': '3600' });
        quota.remaining--;
      }
      quotaHeaders['ratelimit-limit'] = `${quota.limit};w=21600`;
      quotaHeaders['ratelimit-remaining'] = `${quota.remaining};w=21600`;
    }
    if (!manifest) return json(res, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }, quotaHeaders);
    res.writeHead(200, {
      ...quotaHeaders,
      'content-type': manifest.mediaType,
      'content-length': String(manifest.bytes.length),
      'docker-content-digest': manifest.digest,
    });
    res.end(req.method === 'HEAD' ? undefined : manifest.bytes);
  }

  #blob(req: IncomingMessage, res: ServerResponse, repo: Repo | undefined, digest: string): void {
    const bytes = repo?.blobs.has(digest) ? this.blobs.get(digest) : undefined;
    if (!bytes) return json(res, 404, { errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown' }] });
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-length': String(bytes.length), 'docker-content-digest': digest });
      return void res.end();
    }
    res.writeHead(307, { location: this.blobLocation?.(digest) ?? `${this.cdnUrl}/blobs/${digest}?signature=abc` });
    res.end();
  }

  #referrers(res: ServerResponse, repository: string, repo: Repo | undefined, subject: string, url: URL): void {
    if (!this.referrersApi) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      return void res.end('404 page not found\n');
    }
    const all = [...(repo?.manifests ?? [])].flatMap((digest) => {
      const m = this.manifests.get(digest);
      const doc = m && (JSON.parse(m.bytes.toString()) as Record<string, any>);
      if (!m || !doc || doc.subject?.digest !== subject) return [];
      const artifactType: unknown = doc.artifactType ?? doc.config?.mediaType;
      return [
        {
          mediaType: m.mediaType,
          digest: m.digest,
          size: m.size,
          ...(typeof artifactType === 'string' ? { artifactType } : {}),
          ...(doc.annotations ? { annotations: doc.annotations as Record<string, string> } : {}),
        },
      ];
    });
    const size = this.referrersPageSize ?? all.length;
    const page = Number(url.searchParams.get('page') ?? 0);
    const manifests = all.slice(page * size, (page + 1) * size);
    const headers: Record<string, string> = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
    if ((page + 1) * size < all.length) headers.link = `</v2/${repository}/referrers/${subject}?page=${page + 1}>; rel="next"`;
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests });
    res.writeHead(200, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  }

  #tags(res: ServerResponse, repository: string, repo: Repo | undefined, url: URL): void {
    if (!repo) return json(res, 404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository unknown' }] });
    if (this.tagPaging !== 'paged') {
      const tags = [...repo.tags.keys()];
      const headers: Record<string, string> =
        this.tagPaging === 'self-link' ? { link: `<${url.pathname}?last=${encodeURIComponent(tags[0] ?? '')}>; rel="next"` } : {};
      return json(res, 200, { name: repository, tags }, headers);
    }
    const all = [...repo.tags.keys()].sort();
    const last = url.searchParams.get('last');
    const n = Number(url.searchParams.get('n') ?? all.length);
    const after = last ? all.filter((t) => t > last) : all;
    const page = after.slice(0, n);
    const headers: Record<string, string> = {};
    if (after.length > n) headers.link = `</v2/${repository}/tags/list?n=${n}&last=${page.at(-1)}>; rel="next"`;
    json(res, 200, { name: repository, tags: page }, headers);
  }
}

/** Sends body (the blob from byte `start`); pauseAfter is an offset in the blob, resetAfter one in this body. */
async function sendBody(res: ServerResponse, body: Buffer, behaviour: BlobBehaviour, start: number): Promise<void> {
  if (behaviour.dripEveryMs !== undefined) {
    let sent = 0;
    const timer = setInterval(() => {
      if (sent >= body.length) return void res.end();
      res.write(body.subarray(sent, sent + 1024));
      sent += 1024;
    }, behaviour.dripEveryMs);
    res.once('close', () => clearInterval(timer));
    return;
  }
  let sent = 0;
  const pauseAt = behaviour.pauseAfter === undefined ? undefined : behaviour.pauseAfter - start;
  if (pauseAt !== undefined && (pauseAt > 0 || (pauseAt === 0 && start === 0))) {
    if (pauseAt > 0) await write(res, body.subarray(0, pauseAt));
    else res.flushHeaders(); // the headers, then nothing
    sent = pauseAt;
    await behaviour.release;
  }
  if (behaviour.resetAfter !== undefined) {
    res.flushHeaders(); // the reset comes after the headers, mid-body
    if (behaviour.resetAfter > sent) await write(res, body.subarray(sent, behaviour.resetAfter));
    setImmediate(() => res.socket?.destroy());
    return;
  }
  if (behaviour.truncateAt !== undefined) {
    res.end(body.subarray(sent, behaviour.truncateAt));
    return;
  }
  res.end(body.subarray(sent));
}

function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => res.write(chunk, (err) => (err ? reject(err) : resolve())));
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function listen(server: Server, port: number, sockets: Set<Socket>): Promise<Server> {
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
