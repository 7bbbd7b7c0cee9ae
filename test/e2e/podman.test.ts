import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTools, run } from '../support/peers.js';
import { setupPodman, type Podman } from '../support/podman.js';
import { useE2E } from './setup.js';

const missing = missingTools('docker-registry', 'podman', 'skopeo');

describe.skipIf(missing)('podman pulls through cargohold (registries.conf mirror)', () => {
  const e2e = useE2E('podman');
  let podman: Podman;
  beforeAll(() => {
    podman = setupPodman(e2e.dir, e2e.mirrorHost);
  });
  afterAll(async () => {
    await podman?.cleanup();
  });

  it('pulls docker.io/library/node:17-alpine (a GET of the tag, no HEAD) with the upstream digest, and runs it', async () => {
    await podman.podman('pull', 'docker.io/library/node:17-alpine');
    expect(e2e.mirrorServed('GET', '/v2/library/node/manifests/17-alpine')).toBe(true);
    for (const blob of e2e.images.node17.blobs) expect(e2e.mirrorServed('GET', `/v2/library/node/blobs/${blob.digest}`)).toBe(true);
    const digest = await podman.podman('image', 'inspect', '--format', '{{.Digest}}', 'docker.io/library/node:17-alpine');
    expect(digest.trim()).toBe(e2e.images.node17.manifest.digest);
    const out = await podman.podman('run', '--rm', 'docker.io/library/node:17-alpine', 'cat', '/etc/os-release');
    expect(out).toContain('VERSION_ID=17');
  });

  it('pulls the arm64 image of a multi-arch index with --arch arm64', async () => {
    await podman.podman('pull', '--arch', 'arm64', 'docker.io/library/multi:latest');
    const arm = e2e.images.multiOci.images[1]?.image.manifest.digest as string;
    expect(e2e.mirrorServed('GET', `/v2/library/multi/manifests/${arm}`)).toBe(true);
  });

  it('after skopeo fetched an image, podman pulling it sends no blob request upstream', async () => {
    await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${e2e.mirrorHost}/myorg/app:1.0`, `dir:${e2e.dir}/app`]);
    const before = e2e.upstreamBlobGets().length;
    await podman.podman('pull', 'docker.io/myorg/app:1.0');
    expect(e2e.upstreamBlobGets().length).toBe(before);
    expect(e2e.mirrorServed('GET', '/v2/myorg/app/manifests/1.0')).toBe(true);
  });
});
