import { parseDigest } from './digest.js';
import { INDEX_MEDIA_TYPES, MediaType } from './media-types.js';

/** A descriptor of a referrer, as the referrers API lists it. */
export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

type Json = Record<string, unknown>;

const TAG_INVALID = /[^a-zA-Z0-9_.-]/g;

/**
 * The referrers tag schema's tag for a digest (distribution-spec "Referrers Tag Schema"):
 * the algorithm truncated to 32 characters, `-`, the encoded part truncated to 64, with
 * every character a tag may not hold replaced by `-`.
 */
export function referrersTag(digest: string): string {
  const colon = digest.indexOf(':');
  return `${digest.slice(0, colon).slice(0, 32)}-${digest.slice(colon + 1).slice(0, 64)}`.replace(TAG_INVALID, '-');
}

/**
 * The descriptor of a stored manifest that has a `subject`: its artifactType, else (for an
 * image manifest) its config's media type, and its annotations. Undefined if it is not JSON.
 */
export function referrerDescriptor(manifest: { digest: string; mediaType: string; content: Uint8Array }): ReferrerDescriptor | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(manifest.content.buffer, manifest.content.byteOffset, manifest.content.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isJson(doc)) return undefined;
  const configType = isJson(doc.config) && typeof doc.config.mediaType === 'string' ? doc.config.mediaType : undefined;
  const artifactType = nonEmpty(doc.artifactType) ?? (INDEX_MEDIA_TYPES.includes(manifest.mediaType) ? undefined : nonEmpty(configType));
  const annotations = stringMap(doc.annotations);
  return {
    mediaType: manifest.mediaType,
    digest: manifest.digest,
    size: manifest.content.byteLength,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

/**
 * The descriptors of a referrers list (a referrers API answer or the index behind a referrers
 * tag); undefined when the bytes are not an image index. Entries that are not valid
 * descriptors are left out.
 */
export function parseReferrersIndex(bytes: Uint8Array): ReferrerDescriptor[] | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isJson(doc) || !Array.isArray(doc.manifests)) return undefined;
  if (doc.mediaType !== undefined && !INDEX_MEDIA_TYPES.includes(doc.mediaType as string)) return undefined;
  const descriptors: ReferrerDescriptor[] = [];
  for (const entry of doc.manifests as unknown[]) {
    const descriptor = parseDescriptor(entry);
    if (descriptor) descriptors.push(descriptor);
  }
  return descriptors;
}

function parseDescriptor(entry: unknown): ReferrerDescriptor | undefined {
  if (!isJson(entry)) return undefined;
  const { mediaType, digest, size } = entry;
  if (typeof mediaType !== 'string' || typeof digest !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    return undefined;
  try {
    parseDigest(digest);
  } catch {
    return undefined;
  }
  const artifactType = nonEmpty(entry.artifactType);
  const annotations = stringMap(entry.annotations);
  return {
    mediaType,
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

/** The body of a referrers answer: an OCI image index of the descriptors. */
export function referrersIndex(descriptors: readonly ReferrerDescriptor[]): string {
  return JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: descriptors });
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (!isJson(value)) return undefined;
  const entries = Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string');
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

function isJson(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
