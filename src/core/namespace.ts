import { RegistryError } from '../errors/registry-error.js';
import { normalizeDockerHubName, validateName } from '../oci/reference.js';

/** Docker Hub's host as repositories are stored (`docker.io/library/node`). */
export const DOCKER_HUB = 'docker.io';

/** Other names clients use for Docker Hub (containerd's `?ns=`, image references). */
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['docker.io', 'registry-1.docker.io', 'index.docker.io', 'registry.hub.docker.com']);

/** A host as stored: lowercase, Docker Hub's aliases folded into `docker.io`. */
export function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

const HOST_SHAPE = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d{1,5})?$/;

/** A first path segment that names a registry, as Docker's reference grammar tells them apart: a dot, a port, or localhost. */
export function looksLikeHost(segment: string): boolean {
  if (!HOST_SHAPE.test(segment)) return false; // `..` is a bad name, not a host
  return segment.includes('.') || segment.includes(':') || segment.toLowerCase() === 'localhost';
}

/** What namespace resolution knows of a configured upstream. */
export interface NamespaceEntry {
  host: string;
  /** Repository globs (`*` within a segment, `**` across); undefined: every repository. */
  allow?: readonly string[] | undefined;
  deny?: readonly string[] | undefined;
  /** Carried for client auth (read rules); not enforced here. */
  private: boolean;
}

export interface ResolvedName {
  /** The repository as stored and as the core sees it: `docker.io/library/node`, `ghcr.io/foo/bar`. */
  repository: string;
  /** The configured upstream host. */
  host: string;
  /** The repository on that upstream: `library/node`. */
  remote: string;
  /** The name as the client addresses it (path prefix kept, `?ns=` not): for answers that echo the name. */
  name: string;
  private: boolean;
}

interface CompiledEntry extends NamespaceEntry {
  allowed: (remote: string) => boolean;
}

/**
 * Which repository a request names: `?ns=<host>` (containerd), else a first path segment
 * that is a configured host (a podman mirror location `mirror:5000/ghcr.io`), else the
 * default upstream. A host that is not configured is NAME_UNKNOWN before anything is
 * contacted; Docker Hub's implicit `library/` applies to Docker Hub only.
 */
export class Namespaces {
  readonly #entries = new Map<string, CompiledEntry>();
  readonly defaultHost: string;

  constructor(entries: readonly NamespaceEntry[], defaultHost = DOCKER_HUB) {
    for (const entry of entries) this.#entries.set(canonicalHost(entry.host), { ...entry, allowed: compileAccess(entry.allow, entry.deny) });
    if (!this.#entries.has(defaultHost)) throw new Error(`the default upstream ${defaultHost} is not configured`);
    this.defaultHost = defaultHost;
  }

  /** Docker Hub alone, everything allowed (what a config with no `upstreams:` means). */
  static dockerHubOnly(): Namespaces {
    return new Namespaces([{ host: DOCKER_HUB, private: false }]);
  }

  get hosts(): string[] {
    return [...this.#entries.keys()];
  }

  /** Whether content from this upstream is private (client auth serves it to allowed principals only). */
  isPrivate(host: string): boolean {
    return this.#entries.get(canonicalHost(host))?.private ?? false;
  }

  has(host: string): boolean {
    return this.#entries.has(canonicalHost(host));
  }

  /** A request's `<name>` and `?ns=`. */
  resolve(name: string, ns: string | undefined): ResolvedName {
    if (ns !== undefined) return this.qualify(this.#known(ns, { ns }), name);
    const slash = name.indexOf('/');
    const first = slash > 0 ? name.slice(0, slash) : '';
    if (first && looksLikeHost(first)) {
      const host = this.#known(first, { name });
      return this.qualify(host, name.slice(slash + 1), true);
    }
    return this.qualify(this.defaultHost, name);
  }

  /** A repository on a known upstream; `prefixed`: the client named the host in the path (answers echo it). */
  qualify(host: string, remote: string, prefixed = false): ResolvedName {
    const key = canonicalHost(host);
    const entry = this.#entries.get(key);
    if (!entry) throw unknownHost(host, { host });
    validateName(remote);
    const normalized = key === DOCKER_HUB ? normalizeDockerHubName(remote) : remote;
    validateName(normalized);
    if (!entry.allowed(normalized)) {
      throw new RegistryError('DENIED', `repository ${key}/${normalized} is not served by this mirror`, { detail: { upstream: key } });
    }
    const repository = `${key}/${normalized}`;
    return { repository, host: key, remote: normalized, name: prefixed ? repository : normalized, private: entry.private };
  }

  #known(host: string, detail: Record<string, string>): string {
    const key = canonicalHost(host);
    if (!this.#entries.has(key)) throw unknownHost(host, detail);
    return key;
  }
}

function unknownHost(host: string, detail: Record<string, string>): RegistryError {
  return new RegistryError('NAME_UNKNOWN', `no upstream is configured for registry "${host}"`, { detail });
}

/** Splits a stored repository into its upstream host and the name there. */
export function splitRepository(repository: string): { host: string; remote: string } {
  const slash = repository.indexOf('/');
  return slash < 0 ? { host: '', remote: repository } : { host: repository.slice(0, slash), remote: repository.slice(slash + 1) };
}

function compileAccess(allow: readonly string[] | undefined, deny: readonly string[] | undefined): (remote: string) => boolean {
  const allowed = allow?.map(globToRegExp);
  const denied = (deny ?? []).map(globToRegExp);
  return (remote) => (allowed === undefined || allowed.some((r) => r.test(remote))) && !denied.some((r) => r.test(remote));
}

/** `*` any characters but `/`, `**` anything, `?` one character but `/`. */
export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === '*' && glob[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
