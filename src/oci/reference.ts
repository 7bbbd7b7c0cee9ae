import { RegistryError } from '../errors/registry-error.js';
import { isDigestLike, parseDigest, type Digest } from './digest.js';

// distribution/reference: path components of lowercase alphanumerics joined by separators.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
export const MAX_NAME_LENGTH = 255;

/** Validates a repository name as the client sent it; throws NAME_INVALID. */
export function validateName(name: string): void {
  const fail = (why: string): never => {
    throw new RegistryError('NAME_INVALID', `invalid repository name: ${why}`, { detail: { name } });
  };
  if (name.length === 0) fail('empty');
  if (name.length > MAX_NAME_LENGTH) fail(`longer than ${MAX_NAME_LENGTH} characters`);
  for (const component of name.split('/')) {
    if (component.length === 0) fail('empty path segment');
    if (!COMPONENT.test(component)) fail(`segment "${component}" must be lowercase alphanumerics with . _ __ - separators`);
  }
}

/**
 * Docker Hub's implicit namespace: "node" and "library/node" are the same
 * repository. The daemon already sends "library/node"; `docker pull mirror/node` sends "node".
 */
export function normalizeDockerHubName(name: string): string {
  return name.includes('/') ? name : `library/${name}`;
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** Parses the <reference> of /v2/<name>/manifests/<reference>. */
export function parseReference(reference: string): Reference {
  if (isDigestLike(reference)) return { kind: 'digest', digest: parseDigest(reference) };
  if (!TAG.test(reference)) {
    throw new RegistryError('MANIFEST_INVALID', 'invalid tag: up to 128 characters of [A-Za-z0-9_.-], not starting with . or -', {
      detail: { reference },
    });
  }
  return { kind: 'tag', tag: reference };
}

/**
 * The <reference> of a manifest GET or HEAD. Anything that is neither a tag nor a digest
 * names no manifest: 404 MANIFEST_UNKNOWN, as distribution's router answers 404 for it
 * (MANIFEST_INVALID and DIGEST_INVALID are push-time codes; the spec lists only 404 here).
 */
export function parseManifestReference(reference: string): Reference {
  try {
    return parseReference(reference);
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err;
    throw new RegistryError('MANIFEST_UNKNOWN', `manifest unknown: ${err.message}`, { detail: { reference } });
  }
}
