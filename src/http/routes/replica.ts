import { timingSafeEqual, createHash } from 'node:crypto';
import type { Context } from 'hono';
import { RegistryError } from '../../errors/registry-error.js';
import { parseDigest, type Digest } from '../../oci/digest.js';
import type { BlobBody } from '../../storage/blob-body.js';
import type { AppEnv } from '../env.js';
import { sendBody } from '../send-body.js';

/** What the internal endpoint serves: a fill of this replica's from its start, or the stored blob. */
export interface ReplicaBlobs {
  forReplica(digest: Digest): Promise<{ size: number | undefined; body: BlobBody } | undefined>;
}

const hash = (s: string) => createHash('sha256').update(s).digest();

/**
 * GET /_cargohold/v1/fills/<digest>: another replica streams this one's fill of a blob (it
 * lost the claim to us). Only with the replicas' shared secret as a Bearer token (compared
 * in constant time); anything else is 401 with no hint of what is here. Never starts a
 * fill and never goes upstream: 404 BLOB_UNKNOWN when the fill is over and nothing is stored.
 */
export function replicaFillHandler(blobs: ReplicaBlobs, secret: string) {
  const expected = hash(`Bearer ${secret}`);
  return async (c: Context<AppEnv>): Promise<Response> => {
    const given = c.req.header('authorization');
    if (given === undefined || !timingSafeEqual(hash(given), expected)) {
      throw new RegistryError('UNAUTHORIZED', 'this endpoint is for the mirror replicas only', { status: 401 });
    }
    const digest = parseDigest(c.req.param('digest') ?? '');
    const found = await blobs.forReplica(digest);
    if (!found) throw new RegistryError('BLOB_UNKNOWN', 'no fill of this blob here, and it is not stored', { detail: { digest: digest.value } });
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': digest.value };
    if (found.size !== undefined) headers['Content-Length'] = String(found.size);
    return sendBody(c, 200, headers, found.body, { flushHeaders: true });
  };
}
