import { RegistryError } from '../errors/registry-error.js';
import { parseDigest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import { bareMediaType, INDEX_MEDIA_TYPES } from '../oci/media-types.js';
import type { ManifestResult, ManifestService } from './types.js';

/** The media types an Accept header lists; undefined when it accepts anything. */
export function acceptedTypes(accept: string | undefined): Set<string> | undefined {
  if (!accept) return undefined;
  const types = accept
    .split(',')
    .map((t) => bareMediaType(t))
    .filter((t): t is string => t !== undefined);
  if (types.length === 0 || types.includes('*/*') || types.includes('application/*')) return undefined;
  return new Set(types);
}

/** distribution serves this platform's image to a client that cannot read an index. */
const DEFAULT_PLATFORM = { os: 'linux', architecture: 'amd64' };

/**
 * Content negotiation as distribution does it: a manifest is served as stored when the
 * client accepts its type (or anything); an index to a client that accepts only image
 * manifests is answered with its linux/amd64 image; anything else is not found for
 * that client.
 */
export async function negotiate(
  result: ManifestResult,
  accept: string | undefined,
  repository: string,
  manifests: ManifestService,
): Promise<ManifestResult> {
  const accepted = acceptedTypes(accept);
  if (!accepted || accepted.has(result.mediaType)) return result;
  if (INDEX_MEDIA_TYPES.includes(result.mediaType)) {
    const entry = parseManifest(result.content, result.mediaType).references.find(
      (r) =>
        r.kind === 'manifest' &&
        r.platform?.os === DEFAULT_PLATFORM.os &&
        r.platform.architecture === DEFAULT_PLATFORM.architecture &&
        (r.mediaType === undefined || accepted.has(r.mediaType)),
    );
    if (entry) {
      const image = await manifests.get(repository, { kind: 'digest', digest: parseDigest(entry.digest) });
      if (accepted.has(image.mediaType)) return { ...image, cache: result.cache === 'miss' ? 'miss' : image.cache };
    }
  }
  throw new RegistryError('MANIFEST_UNKNOWN', `the manifest is a ${result.mediaType}, which the client does not accept`, {
    detail: { mediaType: result.mediaType, accept },
  });
}
