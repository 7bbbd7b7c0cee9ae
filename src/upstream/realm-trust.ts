import { isIP } from 'node:net';

const DOCKER_HUB_HOSTS = new Set(['registry-1.docker.io', 'index.docker.io', 'registry.hub.docker.com']);
const DOCKER_HUB_REALM = 'https://auth.docker.io';
/** Second-level labels under which a registrable domain has three labels (example.co.uk). */
const SHARED_SECOND_LEVEL = new Set(['co', 'com', 'net', 'org', 'gov', 'edu', 'ac', 'or', 'ne', 'go']);

/** Which token realms an upstream may send us (and our credentials) to. */
export interface RealmTrust {
  allows(realm: URL): boolean;
  /** Whether the registry's own origin may get the credentials as Basic (when it asks): no realm elsewhere is trusted for it. */
  basicToRegistry: boolean;
  /** For log lines. */
  describe: readonly string[];
}

export function isDockerHub(upstream: URL): boolean {
  return DOCKER_HUB_HOSTS.has(upstream.hostname);
}

/**
 * example.com for registry.example.com, example.co.uk for r.example.co.uk; undefined for an
 * IP literal or a one-label host. No public suffix list: a small heuristic, and only hosts
 * under the upstream's own domain, on the default port, ever match it.
 */
export function registrableDomain(hostname: string): string | undefined {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) return undefined;
  const labels = host.split('.');
  if (labels.length < 2) return undefined;
  const tld = labels.at(-1) as string;
  const second = labels.at(-2) as string;
  const take = tld.length === 2 && SHARED_SECOND_LEVEL.has(second) ? 3 : 2;
  return labels.length < take ? undefined : labels.slice(-take).join('.');
}

/**
 * Configured realms are trusted as listed (and only they). By default: the upstream's own
 * origin, Docker Hub's auth.docker.io for Docker Hub, and any https host of the upstream's
 * registrable domain (gitlab.com for registry.gitlab.com). Defaults other than the upstream
 * itself still connect only to public addresses (egress.ts).
 */
export function realmTrust(upstream: URL, configured: readonly string[] | undefined): RealmTrust {
  if (configured !== undefined) {
    const origins = new Set(configured);
    return {
      allows: (realm) => origins.has(realm.origin),
      basicToRegistry: origins.has(upstream.origin) && origins.size === 1,
      describe: [...origins],
    };
  }
  const hub = isDockerHub(upstream);
  const domain = registrableDomain(upstream.hostname);
  const describe = hub ? [DOCKER_HUB_REALM] : [upstream.origin, ...(domain ? [`https://*.${domain}`] : [])];
  return {
    allows(realm) {
      if (hub) return realm.origin === DOCKER_HUB_REALM;
      if (realm.origin === upstream.origin) return true;
      if (domain === undefined || realm.protocol !== 'https:' || realm.port !== '') return false;
      const host = realm.hostname.toLowerCase();
      return host === domain || host.endsWith(`.${domain}`);
    },
    basicToRegistry: !hub,
    describe,
  };
}
