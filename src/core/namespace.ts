import { RegistryError } from '../errors/registry-error.js';
import { normalizeDockerHubName, validateName } from '../oci/reference.js';

/** Registries whose names this mirror serves (containerd sends them as `?ns=`). */
export const DOCKER_HUB_NAMESPACES: ReadonlySet<string> = new Set(['docker.io', 'registry-1.docker.io', 'index.docker.io']);

/**
 * Resolves the repository a request addresses: validates the name, refuses a
 * namespace (`?ns=`) this mirror has no upstream for, and applies Docker Hub's
 * implicit `library/` so "node" and "library/node" are one cached repository.
 */
export function resolveRepository(name: string, ns: string | undefined): string {
  validateName(name);
  if (ns !== undefined && !DOCKER_HUB_NAMESPACES.has(ns.toLowerCase())) {
    throw new RegistryError('NAME_UNKNOWN', `no upstream is configured for registry "${ns}"`, { detail: { ns } });
  }
  const normalized = normalizeDockerHubName(name);
  validateName(normalized);
  return normalized;
}
