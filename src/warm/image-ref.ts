import { canonicalHost, DOCKER_HUB, looksLikeHost } from '../core/namespace.js';
import { normalizeDockerHubName, parseReference, validateName, type Reference } from '../oci/reference.js';

/** A reference a user wrote that is not an image this mirror can cache. */
export class ImageRefError extends Error {
  override name = 'ImageRefError';
}

export interface ImageRef {
  /** The repository as cached here (docker.io/library/node, ghcr.io/foo/bar). */
  repository: string;
  /** The registry it names (docker.io when none). */
  host: string;
  /** The repository on that registry (library/node). */
  remote: string;
  reference: Reference;
  /** repository:tag or repository@digest, for messages and pins. */
  display: string;
  /** The tag or digest as a string. */
  referenceText: string;
}

/**
 * Parses an image reference as users write it for Docker: `node:17-alpine`,
 * `docker.io/library/node`, `myorg/app@sha256:...`, `ghcr.io/foo/bar:1`. Whether the
 * registry is one this mirror serves is the caller's check (Namespaces). Throws
 * ImageRefError with a message naming the problem.
 */
export function parseImageRef(input: string): ImageRef {
  let rest = input.trim();
  if (!rest) throw new ImageRefError('empty image reference');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let host = DOCKER_HUB;
  if (slash >= 0 && looksLikeHost(first)) {
    host = canonicalHost(first);
    rest = rest.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  try {
    validateName(rest);
    const remote = host === DOCKER_HUB ? normalizeDockerHubName(rest) : rest;
    validateName(remote);
    const repository = `${host}/${remote}`;
    const referenceText = digest ?? tag ?? 'latest';
    const reference = parseReference(referenceText);
    return {
      repository,
      host,
      remote,
      reference,
      referenceText,
      display: digest ? `${repository}@${digest}` : `${repository}:${referenceText}`,
    };
  } catch (err) {
    throw new ImageRefError(`${input}: ${(err as Error).message}`);
  }
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string | undefined;
}

/** "linux/arm64/v8" → { os, architecture, variant }. */
export function parsePlatform(input: string): Platform {
  const [os, architecture, variant, extra] = input.trim().split('/');
  if (!os || !architecture || extra !== undefined) throw new Error(`platform "${input}" must be os/arch[/variant], e.g. linux/amd64`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** The platform this machine runs, as image indexes name it. */
export function hostPlatform(): Platform {
  return { os: 'linux', architecture: NODE_ARCH[process.arch] ?? process.arch, ...(process.arch === 'arm' ? { variant: 'v7' } : {}) };
}

export function platformMatches(want: Platform, have: { os?: string; architecture?: string; variant?: string } | undefined): boolean {
  if (!have) return false;
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  return want.variant === undefined || have.variant === undefined || have.variant === want.variant;
}

export function formatPlatform(p: { os?: string; architecture?: string; variant?: string }): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
