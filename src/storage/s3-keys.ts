import { parseDigest, type Digest } from '../oci/digest.js';

/**
 * The object layout in the bucket, the disk's (storage/paths.ts) under a prefix:
 *
 *   <prefix>blobs/<alg>/<ab>/<hex>          verified blobs, one object per digest
 *   <prefix>tmp/<instance>.<hex16>.<n>      multipart uploads of fills in progress, and the
 *                                           object one completes into before it is copied
 *                                           to the digest key (large blobs only)
 *
 * Every key is built from a parsed Digest or our own instance id: no client input names a key.
 */
export class S3Keys {
  /** '' or a prefix ending in '/'. */
  readonly prefix: string;

  constructor(prefix: string) {
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    this.prefix = trimmed === '' ? '' : `${trimmed}/`;
  }

  get blobsPrefix(): string {
    return `${this.prefix}blobs/`;
  }

  get tempPrefix(): string {
    return `${this.prefix}tmp/`;
  }

  blob(digest: Digest): string {
    return `${this.blobsPrefix}${digest.algorithm}/${digest.hex.slice(0, 2)}/${digest.hex}`;
  }

  /** The temp key of a writer; its name part is the spool file's name (the same parse finds the instance). */
  temp(name: string): string {
    return `${this.tempPrefix}${name}`;
  }

  /** The digest a blob key names; undefined for a key we did not make. */
  digestOf(key: string): Digest | undefined {
    if (!key.startsWith(this.blobsPrefix)) return undefined;
    const parts = key.slice(this.blobsPrefix.length).split('/');
    if (parts.length !== 3 || parts[1] !== parts[2]?.slice(0, 2)) return undefined;
    try {
      return parseDigest(`${parts[0]}:${parts[2]}`);
    } catch {
      return undefined;
    }
  }

  /** The name part of a temp key (`<instance>.<hex16>.<n>`); undefined for another key. */
  tempName(key: string): string | undefined {
    if (!key.startsWith(this.tempPrefix)) return undefined;
    const name = key.slice(this.tempPrefix.length);
    return name.includes('/') ? undefined : name;
  }
}
