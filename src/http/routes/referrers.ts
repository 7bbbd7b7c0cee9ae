import type { Context } from 'hono';
import type { Namespaces } from '../../core/namespace.js';
import { resolveName } from '../resolve-name.js';
import type { ReferrersService } from '../../core/types.js';
import { parseDigest } from '../../oci/digest.js';
import { MediaType } from '../../oci/media-types.js';
import { referrersIndex } from '../../oci/referrers.js';
import type { AppEnv } from '../env.js';

/** GET /v2/<name>/referrers/<digest>[?artifactType=]: an image index of the manifests whose subject is the digest; empty when none. */
export function referrersHandler(referrers: ReferrersService, namespaces: Namespaces) {
  return async (c: Context<AppEnv>, name: string, rawDigest: string): Promise<Response> => {
    const { repository } = resolveName(c, namespaces, name);
    const digest = parseDigest(rawDigest);
    const artifactType = c.req.query('artifactType');
    const result = await referrers.list(repository, digest, artifactType === '' ? undefined : artifactType);
    const body = referrersIndex(result.descriptors);
    const headers: Record<string, string> = { 'Content-Type': MediaType.OciIndex, 'Content-Length': String(Buffer.byteLength(body)) };
    if (result.filtered) headers['OCI-Filters-Applied'] = 'artifactType';
    return new Response(c.req.method === 'HEAD' ? null : body, { status: 200, headers });
  };
}
