import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { missingTools, run } from '../support/peers.js';
import { useE2E } from './setup.js';

const missing = missingTools('docker-registry', 'skopeo');

describe.skipIf(missing)('skopeo through cargohold, with the CNCF distribution registry as upstream', () => {
  const e2e = useE2E('skopeo');
  const host = () => e2e.mirrorHost;
  const skopeo = async (...args: string[]) => (await run('skopeo', ['--insecure-policy', ...args])).stdout;

  const blobGets = () => e2e.upstreamBlobGets();

  it('copies node:17-alpine with the upstream digest; a second copy sends no blob request upstream', async () => {
    const { dir, upstream, mirror, images } = e2e;
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
    const { dir, upstream, mirror, images } = e2e;
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
    const { dir, upstream, mirror, images } = e2e;
    for (const [name, multi] of [['multi', images.multiOci], ['multi-list', images.multiDocker]] as const) {
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

  it('copies a whole multi-arch index with --all and lists tags', async () => {
    const { dir, upstream, mirror, images } = e2e;
    await skopeo('copy', '--all', '--src-tls-verify=false', `docker://${host()}/library/multi:latest`, `dir:${join(dir, 'multi')}`);
    const tags = JSON.parse(await skopeo('list-tags', '--tls-verify=false', `docker://${host()}/library/node`));
    expect(tags.Tags.sort()).toEqual(['16-alpine', '17-alpine']);
  });
});
