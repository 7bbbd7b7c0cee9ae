import type { Context } from 'hono';
import { parseManifestReference } from '../../oci/reference.js';
import type { Namespaces } from '../../core/namespace.js';
import { resolveName } from '../resolve-name.js';
import { negotiate } from '../../core/negotiate.js';
import type { ManifestService } from '../../core/types.js';
import type { AppEnv } from '../env.js';

/** GET and HEAD /v2/<name>/manifests/<reference>: the exact bytes received upstream, with their own media type (negotiated on Accept). */
export function manifestsHandler(manifests: ManifestService, namespaces: Namespaces) {
  return async (c: Context<AppEnv>, name: string, rawReference: string): Promise<Response> => {
    const { repository } = resolveName(c, namespaces, name);
    const reference = parseManifestReference(rawReference);
    const result = await negotiate(await manifests.get(repository, reference), c.req.header('accept'), repository, manifests);
    c.set('repository', repository);
    c.set('cache', result.cache);
    c.set('coalesced', result.coalesced === true);
    const headers = {
      'Content-Type': result.mediaType,
      'Content-Length': String(result.content.length),
      'Docker-Content-Digest': result.digest,
      ETag: `"${result.digest}"`,
      'X-Cargohold-Cache': result.cache,
    };
    const body =
      c.req.method === 'HEAD'
        ? null
        : (new Uint8Array(result.content.buffer, result.content.byteOffset, result.content.length) as Uint8Array<ArrayBuffer>);
    return new Response(body, { status: 200, headers });
  };
}
