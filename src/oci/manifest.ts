import { RegistryError } from '../errors/registry-error.js';
import { parseDigest } from './digest.js';
import { bareMediaType, INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from './media-types.js';

export type ReferenceKind = 'manifest' | 'config' | 'layer' | 'subject';

export interface ManifestReference {
  digest: string;
  kind: ReferenceKind;
  size?: number;
  mediaType?: string;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export interface ParsedManifest {
  mediaType: string;
  references: ManifestReference[];
}

type Json = Record<string, unknown>;

const invalid = (why: string): never => {
  throw new RegistryError('MANIFEST_INVALID', `invalid manifest: ${why}`, { status: 502 });
};

/**
 * Parses manifest bytes from an upstream: decides the media type (the document's own
 * `mediaType` field first, then the Content-Type header, then the shape, since OCI
 * manifests may omit the field) and lists the digests it references.
 */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return invalid('not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return invalid('not a JSON object');
  const json = doc as Json;
  if (json.schemaVersion !== 2) return invalid(`schemaVersion ${String(json.schemaVersion)} is not supported`);
  const mediaType = resolveMediaType(json, contentType);
  const references = INDEX_MEDIA_TYPES.includes(mediaType) ? indexReferences(json) : imageReferences(json);
  if (isJson(json.subject)) references.push(descriptor(json.subject, 'subject'));
  return { mediaType, references };
}

function resolveMediaType(json: Json, contentType: string | undefined): string {
  const declared = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  if (declared !== undefined) {
    if (!MANIFEST_MEDIA_TYPES.includes(declared)) return invalid(`unsupported mediaType ${declared}`);
    return declared;
  }
  const header = bareMediaType(contentType);
  if (header !== undefined && MANIFEST_MEDIA_TYPES.includes(header)) return header;
  if (Array.isArray(json.manifests)) return MediaType.OciIndex;
  if (isJson(json.config) && Array.isArray(json.layers)) return MediaType.OciManifest;
  return invalid('cannot tell its media type');
}

function indexReferences(json: Json): ManifestReference[] {
  if (!Array.isArray(json.manifests)) return invalid('index without manifests');
  return json.manifests.map((entry: unknown) => {
    if (!isJson(entry)) return invalid('index entry is not an object');
    const ref = descriptor(entry, 'manifest');
    if (isJson(entry.platform)) {
      const p = entry.platform;
      ref.platform = {
        ...(typeof p.os === 'string' ? { os: p.os } : {}),
        ...(typeof p.architecture === 'string' ? { architecture: p.architecture } : {}),
        ...(typeof p.variant === 'string' ? { variant: p.variant } : {}),
      };
    }
    return ref;
  });
}

function imageReferences(json: Json): ManifestReference[] {
  if (!isJson(json.config)) return invalid('image manifest without config');
  if (!Array.isArray(json.layers)) return invalid('image manifest without layers');
  const layers = json.layers.map((layer: unknown) => (isJson(layer) ? descriptor(layer, 'layer') : invalid('layer is not an object')));
  return [descriptor(json.config, 'config'), ...layers];
}

function descriptor(entry: Json, kind: ReferenceKind): ManifestReference {
  if (typeof entry.digest !== 'string') return invalid(`${kind} descriptor without digest`);
  try {
    parseDigest(entry.digest);
  } catch {
    return invalid(`${kind} descriptor has an invalid digest`);
  }
  return {
    digest: entry.digest,
    kind,
    ...(typeof entry.size === 'number' ? { size: entry.size } : {}),
    ...(typeof entry.mediaType === 'string' ? { mediaType: entry.mediaType } : {}),
  };
}

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
