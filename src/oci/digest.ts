import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from '../errors/registry-error.js';

/** Algorithms we can verify, with the hex length of their encoded part. */
const ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof ALGORITHMS;

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** "algorithm:hex", the canonical string form. */
  readonly value: string;
}

// OCI image-spec descriptor grammar: algorithm ":" encoded.
const GRAMMAR = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Parses and validates a digest string; throws DIGEST_INVALID with the reason. */
export function parseDigest(input: string): Digest {
  const match = GRAMMAR.exec(input);
  if (!match) throw new RegistryError('DIGEST_INVALID', 'invalid digest format', { detail: { digest: input } });
  const algorithm = match[1] as string;
  const hex = match[2] as string;
  if (!(algorithm in ALGORITHMS)) {
    throw new RegistryError('DIGEST_INVALID', `unsupported digest algorithm "${algorithm}"`, { detail: { digest: input } });
  }
  const length = ALGORITHMS[algorithm as DigestAlgorithm];
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    throw new RegistryError('DIGEST_INVALID', `a ${algorithm} digest is ${length} lowercase hex characters`, {
      detail: { digest: input },
    });
  }
  return { algorithm: algorithm as DigestAlgorithm, hex, value: input };
}

export function isDigestLike(reference: string): boolean {
  return reference.includes(':');
}

export function createDigester(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
