import { parseDigest } from '../oci/digest.js';
import { INDEX_MEDIA_TYPES } from '../oci/media-types.js';
import { parseManifest } from '../oci/manifest.js';
import type { Services } from '../services.js';
import { formatPlatform, platformMatches, type ImageRef, type Platform } from './image-ref.js';

export interface WarmOptions {
  /** Platforms to fetch from an index; 'all' for every one. */
  platforms: Platform[] | 'all';
  /** Blobs fetched at once. */
  concurrency: number;
  /** Revalidate the tag with the upstream now, even within its TTL. */
  refresh?: boolean;
  onEvent?: (event: WarmEvent) => void;
}

export type WarmEvent =
  | { kind: 'image'; image: string; digest: string; platforms: string[]; blobs: number; bytes: number }
  | { kind: 'blob'; image: string; digest: string; size: number; cached: boolean }
  /** Bytes of the image done so far (blobs done plus those arriving), while big layers download. */
  | { kind: 'progress'; image: string; bytes: number; total: number };

export interface WarmSummary {
  images: number;
  manifests: number;
  blobs: number;
  bytesFetched: number;
  bytesCached: number;
}

export function emptySummary(): WarmSummary {
  return { images: 0, manifests: 0, blobs: 0, bytesFetched: 0, bytesCached: 0 };
}

/**
 * Fetches a whole image into the cache through the same services `serve` uses: the tag,
 * the index, the chosen platforms' manifests, configs and layers (several at once).
 */
export async function warmImage(services: Services, ref: ImageRef, options: WarmOptions, summary = emptySummary()): Promise<WarmSummary> {
  const { manifests, blobs } = services.registry;
  const top = await manifests.get(ref.repository, ref.reference, { revalidate: options.refresh === true });
  summary.manifests++;
  const parsed = parseManifest(top.content, top.mediaType);
  let images = [parsed];
  const platforms: string[] = [];
  if (INDEX_MEDIA_TYPES.includes(parsed.mediaType)) {
    const wanted = parsed.references.filter(
      (r) => r.kind === 'manifest' && (options.platforms === 'all' || options.platforms.some((p) => platformMatches(p, r.platform))),
    );
    if (wanted.length === 0) {
      const want = options.platforms === 'all' ? 'any' : options.platforms.map(formatPlatform).join(', ');
      throw new Error(`${ref.display}: no manifest for platform ${want} in its index`);
    }
    images = [];
    for (const entry of wanted) {
      const child = await manifests.get(ref.repository, { kind: 'digest', digest: parseDigest(entry.digest) });
      summary.manifests++;
      images.push(parseManifest(child.content, child.mediaType));
      platforms.push(formatPlatform(entry.platform ?? {}));
    }
  }
  const sizes = new Map<string, number>();
  for (const m of images) for (const r of m.references) if (r.kind === 'config' || r.kind === 'layer') sizes.set(r.digest, r.size ?? 0);
  const digests = [...sizes.keys()];
  const total = [...sizes.values()].reduce((a, b) => a + b, 0);
  options.onEvent?.({ kind: 'image', image: ref.display, digest: top.digest, platforms, blobs: digests.length, bytes: total });
  let done = 0;
  const arriving = new Map<string, number>();
  const report = () => {
    let bytes = done;
    for (const n of arriving.values()) bytes += n;
    options.onEvent?.({ kind: 'progress', image: ref.display, bytes, total });
  };
  const queue = [...digests];
  const worker = async () => {
    for (let digest = queue.shift(); digest !== undefined; digest = queue.shift()) {
      const key = digest;
      const { size, cache } = await blobs.ensure(ref.repository, parseDigest(digest), (received) => {
        arriving.set(key, received);
        report();
      });
      arriving.delete(key);
      done += size;
      const cached = cache === 'hit';
      summary.blobs++;
      if (cached) summary.bytesCached += size;
      else summary.bytesFetched += size;
      options.onEvent?.({ kind: 'blob', image: ref.display, digest, size, cached });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, digests.length)) }, worker));
  summary.images++;
  return summary;
}
