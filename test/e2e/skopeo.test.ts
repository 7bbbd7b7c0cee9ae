import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { image, randomLayer, sha256, type Blob } from '../fixtures/images.js';
import { missingTools, run } from '../support/peers.js';
import { pushImage } from '../support/registry-push.js';
import { useE2E } from './setup.js';

const missing = missingTools('docker-registry', 'skopeo');

describe.skipIf(missing)('skopeo through cargohold, with the CNCF distribution registry as upstream', () => {
  const e2e = useE2E('skopeo');
  const host = () => e2e.mirrorHost;
  const skopeo = async (...args: string[]) => (await run('skopeo', ['--insecure-policy', ...args])).stdout;

  const blobGets = () => e2e.upstreamBlobGets();

  it('copies node:17-alpine with the upstream digest; a second copy sends no blob request upstream', async () => {
    const { dir, upstream, images } = e2e;
    const inspectUpstream = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${upstream.host}/library/node:17-alpine`));
    const inspect = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${host()}/library/node:17-alpine`));
    expect(inspect.Digest).toBe(inspectUpstream.Digest);
    expect(inspect.Digest).toBe(images.node17.manifest.digest);
    await skopeo('copy', '--src-tls-verify=false', `docker://${host()}/library/node:17-alpine`, `dir:${join(dir, 'out1')}`);
    expect(readdirSync(join(dir, 'out1'))).toEqual(expect.arrayContaining(['manifest.json', ...images.node17.blobs.map((b) => b.digest.slice(7))]));
    const before = blobGets().length;
    expect(before).toBeGreaterThanOrEqual(images.node17.blobs.length);
    await skopeo('copy', '--src-tls-verify=false', `docker://${host()}/library/node:17-alpine`, `dir:${join(dir, 'out2')}`);
    expect(blobGets().length).toBe(before);
  });

  it('copies an image sharing parent layers, keeping the shared layer once on disk', async () => {
    const { dir, mirror, images } = e2e;
    await skopeo('copy', '--src-tls-verify=false', `docker://${host()}/myorg/app:1.0`, `dir:${join(dir, 'app')}`);
    await skopeo('copy', '--src-tls-verify=false', `docker://${host()}/library/node:16-alpine`, `dir:${join(dir, 'node16')}`);
    const base = images.node17.layers[0]?.digest.slice(7) as string;
    expect(images.app.layers[0]?.digest.slice(7)).toBe(base);
    const baseGets = blobGets().filter((r) => r.path.endsWith(base));
    expect(baseGets).toHaveLength(1);
    const stored = readdirSync(join(mirror.dataDir, 'blobs', 'sha256', base.slice(0, 2)));
    expect(stored.filter((f) => f === base)).toHaveLength(1);
  });

  it('inspects one platform of an OCI index and of a Docker manifest list (--override-arch arm64)', async () => {
    const { upstream, images } = e2e;
    for (const [name, multi] of [
      ['multi', images.multiOci],
      ['multi-list', images.multiDocker],
    ] as const) {
      const arm = JSON.parse(await skopeo('inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${host()}/library/${name}:latest`));
      expect(arm.Architecture).toBe('arm64');
      expect(arm.Digest).toBe(multi.index.digest); // skopeo reports the index digest
      const armManifest = multi.images[1]?.image.manifest.digest as string;
      expect(upstream.requests().some((r) => r.method === 'GET' && r.path === `/v2/library/${name}/manifests/${armManifest}`)).toBe(true);
      const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host()}/library/${name}:latest`);
      expect(JSON.parse(raw).manifests).toHaveLength(2);
    }
    // The amd64 manifest of the OCI index was never fetched.
    const amd = images.multiOci.images[0]?.image.manifest.digest as string;
    expect(upstream.requests().filter((r) => r.method !== 'PUT' && r.path.includes(amd))).toHaveLength(0);
  });

  it('resolves a short name (node:17-alpine) to library/node, sharing the cache', async () => {
    const { images } = e2e;
    const before = blobGets().length;
    const inspect = JSON.parse(await skopeo('inspect', '--tls-verify=false', `docker://${host()}/node:17-alpine`));
    expect(inspect.Digest).toBe(images.node17.manifest.digest);
    await skopeo('copy', '--src-tls-verify=false', `docker://${host()}/node:17-alpine`, `dir:${join(e2e.dir, 'short')}`);
    expect(blobGets().length).toBe(before);
  });

  it('copies an image with a ~200 MiB layer, verified, fetched from the upstream once', async () => {
    const { images, upstream } = e2e;
    const big = image([images.node17.layers[0] as Blob & { diffId: string }, randomLayer(200 * 1024 * 1024)]);
    await pushImage(upstream.url, 'library/big', 'latest', big);
    await skopeo('copy', '--src-tls-verify=false', `docker://${host()}/library/big:latest`, `dir:${join(e2e.dir, 'big')}`);
    const layer = big.layers[1] as Blob;
    const copied = readFileSync(join(e2e.dir, 'big', layer.digest.slice(7)));
    expect(copied.length).toBe(layer.size);
    expect(sha256(copied)).toBe(layer.digest);
    expect(blobGets().filter((r) => r.path.endsWith(layer.digest))).toHaveLength(1);
    await skopeo('copy', '--src-tls-verify=false', `docker://${host()}/library/big:latest`, `dir:${join(e2e.dir, 'big2')}`);
    expect(blobGets().filter((r) => r.path.endsWith(layer.digest))).toHaveLength(1);
  });

  it('copies a whole multi-arch index with --all and lists tags', async () => {
    const { dir } = e2e;
    await skopeo('copy', '--all', '--src-tls-verify=false', `docker://${host()}/library/multi:latest`, `dir:${join(dir, 'multi')}`);
    const tags = JSON.parse(await skopeo('list-tags', '--tls-verify=false', `docker://${host()}/library/node`));
    expect(tags.Tags.sort()).toEqual(['16-alpine', '17-alpine']);
  });
});
