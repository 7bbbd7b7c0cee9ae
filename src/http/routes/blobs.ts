import type { Context } from 'hono';
import { parseDigest } from '../../oci/digest.js';
import type { Namespaces } from '../../core/namespace.js';
import { resolveName } from '../resolve-name.js';
import type { BlobService } from '../../core/types.js';
import type { AppEnv } from '../env.js';
import { sendBody } from '../send-body.js';

/** GET and HEAD /v2/<name>/blobs/<digest>, with single `Range: bytes=` requests. */
export function blobsHandler(blobs: BlobService, namespaces: Namespaces) {
  return async (c: Context<AppEnv>, name: string, rawDigest: string): Promise<Response> => {
    const digest = parseDigest(rawDigest);
    const { repository } = resolveName(c, namespaces, name);
    const head = c.req.method === 'HEAD';
    const result = await blobs.get(repository, digest, { head, range: c.req.header('range') });
    c.set('repository', repository);
    c.set('cache', result.cache);
    c.set('coalesced', result.coalesced === true);
    const headers: Record<string, string> = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': result.digest,
      'Accept-Ranges': 'bytes',
      ETag: `"${result.digest}"`,
      'X-Cargohold-Cache': result.cache,
    };
    if (result.redirect) {
      // The store serves the bytes itself (storage.s3.redirect); a Range goes with the client to it.
      return new Response(null, {
        status: 307,
        headers: { Location: result.redirect, 'Docker-Content-Digest': result.digest, 'X-Cargohold-Cache': result.cache },
      });
    }
    const { range, size } = result;
    if (range) {
      headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size ?? '*'}`;
      headers['Content-Length'] = String(range.end - range.start + 1);
    } else if (size !== undefined) {
      headers['Content-Length'] = String(size);
    }
    const status = range ? 206 : 200;
    if (!result.body) return new Response(null, { status, headers });
    // A miss streams from a fill in progress: the status goes out now, not with the upstream's first byte.
    return sendBody(c, status, headers, result.body, { flushHeaders: result.cache === 'miss' });
  };
}
