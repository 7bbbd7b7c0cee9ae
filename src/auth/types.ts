/** What a request reads: the registry host it resolves to, the repository there, and whether that upstream is private. */
export interface AccessTarget {
  /** The upstream's registry host: `docker.io` for Docker Hub. */
  upstream: string;
  /** The repository on that upstream, e.g. `library/node`. */
  repository: string;
  /** Fetched with the mirror's own credentials: never served to anonymous clients, whatever the rules say. */
  private: boolean;
}

/** Who is asking: a user of the htpasswd file or a static token's name, or nobody. */
export interface Principal {
  name: string;
  authenticated: boolean;
}

/** Principal names with a meaning in rules; no user or token may take them. */
export const ANONYMOUS = 'anonymous';
export const AUTHENTICATED = 'authenticated';
export const RESERVED_PRINCIPALS: ReadonlySet<string> = new Set([ANONYMOUS, AUTHENTICATED]);

export const ANONYMOUS_PRINCIPAL: Principal = Object.freeze({ name: ANONYMOUS, authenticated: false });

/** `docker.io/library/node`: what rule globs are matched against. */
export function qualifiedName(target: AccessTarget): string {
  return `${target.upstream}/${target.repository}`;
}
