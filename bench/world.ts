import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { image, randomLayer, sha256, type Blob } from '../test/fixtures/images.js';
import { pushBlob, pushImage } from '../test/support/registry-push.js';
import { startRegistry, type DistributionServer, type Workspace } from './setup.js';

/** The upstream registry and the images the scenarios pull from it. */
export interface World {
  ws: Workspace;
  upstream: DistributionServer;
  runs: number;
  seconds: number;
  /** The ~200 MiB layer of library/big:latest. */
  big: { repository: string; digest: string; size: number };
  small: { repository: string; tag: string; digest: string };
  /** library/warmup:latest (a 32 MiB layer): pulled first so a cargohold process is past its JIT warm-up. */
  warmup: string;
  /** The 32 MiB layer of library/warmup:latest, for scenarios that warm a process with one blob GET. */
  warmupBlob: { repository: string; digest: string; size: number };
  /** The upstream's own file of a blob it holds (distribution's filesystem layout). */
  upstreamBlobFile(digest: string): string;
}

export const MANIFEST_ACCEPT =
  'Accept: application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.index.v1+json';

export function blobUrl(base: string, blob: { repository: string; digest: string }): string {
  return `${base}/v2/${blob.repository}/blobs/${blob.digest}`;
}

/** Starts the upstream and pushes library/big:latest (one big random layer plus a small one) and library/small:latest. */
export async function createWorld(ws: Workspace, opts: { runs: number; seconds: number; bigBytes: number }): Promise<World> {
  const upstreamDir = ws.dir('upstream');
  const upstream = await startRegistry(ws, upstreamDir);
  const bigLayer = randomLayer(opts.bigBytes);
  const big = image([bigLayer, randomLayer(64 * 1024)]);
  await pushImage(upstream.url, 'library/big', 'latest', big);
  const small = image([randomLayer(16 * 1024)]);
  await pushImage(upstream.url, 'library/small', 'latest', small);
  const warmupLayer = randomLayer(32 * 1024 * 1024);
  await pushImage(upstream.url, 'library/warmup', 'latest', image([warmupLayer, randomLayer(64 * 1024)]));
  return {
    ws,
    upstream,
    runs: opts.runs,
    seconds: opts.seconds,
    big: { repository: 'library/big', digest: bigLayer.digest, size: bigLayer.size },
    small: { repository: 'library/small', tag: 'latest', digest: small.manifest.digest },
    warmup: 'library/warmup:latest',
    warmupBlob: { repository: 'library/warmup', digest: warmupLayer.digest, size: warmupLayer.size },
    upstreamBlobFile: (digest) => {
      const hex = digest.slice('sha256:'.length);
      return join(upstreamDir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
  };
}

/**
 * Pushes a blob of random bytes (not a gzip tar layer: building a 1 GiB tar+gzip layer
 * takes ~40 s here, and serving a blob never looks inside it).
 */
export async function pushRandomBlob(world: World, repository: string, bytes: number): Promise<{ repository: string; digest: string; size: number }> {
  const content = randomBytes(bytes);
  const blob: Blob = { digest: sha256(content), size: bytes, bytes: content, mediaType: 'application/octet-stream' };
  await pushBlob(world.upstream.url, repository, blob);
  return { repository, digest: blob.digest, size: bytes };
}
