import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../support/cli-process.js';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { missingTools } from '../support/peers.js';
import { useE2E } from './setup.js';

const missing = missingTools('docker-registry', 'dockerd', 'docker');

describe.skipIf(missing)('dockerd pulls through cargohold (registry-mirrors), Docker Hub unreachable', () => {
  const e2e = useE2E('docker');
  let dockerd: Dockerd;
  beforeAll(async () => {
    dockerd = await startDockerd(e2e.dir, e2e.mirrorHost);
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  it('docker pull node:17-alpine by short name, with the upstream digest, and runs it', async () => {
    const { images } = e2e;
    await dockerd.docker('pull', 'node:17-alpine');
    // Docker falls back to Docker Hub silently: the mirror's own log proves the pull went through it.
    expect(e2e.mirrorServed('GET', '/v2/')).toBe(true);
    expect(e2e.mirrorServed('HEAD', '/v2/library/node/manifests/17-alpine')).toBe(true);
    for (const blob of images.node17.blobs) expect(e2e.mirrorServed('GET', `/v2/library/node/blobs/${blob.digest}`)).toBe(true);
    const repoDigests = await dockerd.docker('image', 'inspect', '--format', '{{json .RepoDigests}}', 'node:17-alpine');
    expect(JSON.parse(repoDigests)).toContain(`node@${images.node17.manifest.digest}`);
    const out = await dockerd.docker('run', '--rm', '--network', 'none', 'node:17-alpine', 'cat', '/etc/os-release');
    expect(out).toContain('VERSION_ID=17');
  });

  it('docker pull myorg/app:1.0 reuses the shared layers ("Already exists") and fetches only its own', async () => {
    const { images } = e2e;
    const before = e2e.upstreamBlobGets().length;
    const out = await dockerd.docker('pull', 'myorg/app:1.0');
    expect(out).toMatch(/Already exists/);
    expect(e2e.mirrorServed('HEAD', '/v2/myorg/app/manifests/1.0')).toBe(true);
    const fetched = e2e
      .upstreamBlobGets()
      .slice(before)
      .map((r) => r.path);
    for (const shared of images.node17.layers) expect(fetched.some((p) => p.endsWith(shared.digest))).toBe(false);
    expect(fetched.some((p) => p.endsWith(images.app.layers[2]?.digest as string))).toBe(true);
  });

  it('docker pull --platform linux/arm64 multi fetches the arm64 manifest only', async () => {
    const { images } = e2e;
    await dockerd.docker('pull', '--platform', 'linux/arm64', 'multi');
    const arm = images.multiOci.images[1]?.image.manifest.digest as string;
    const amd = images.multiOci.images[0]?.image.manifest.digest as string;
    expect(e2e.mirrorServed('GET', `/v2/library/multi/manifests/${arm}`)).toBe(true);
    expect(e2e.mirror.logs.requests().some((l) => String(l.path).includes(amd))).toBe(false);
    const arch = await dockerd.docker('image', 'inspect', '--format', '{{.Architecture}}', 'multi');
    expect(arch.trim()).toBe('arm64');
  });

  it('a Docker manifest list pulls the host platform', async () => {
    await dockerd.docker('pull', 'multi-list');
    const amd = e2e.images.multiDocker.images[0]?.image.manifest.digest as string;
    expect(e2e.mirrorServed('GET', `/v2/library/multi-list/manifests/${amd}`)).toBe(true);
  });

  it('a second pull sends no blob request upstream', async () => {
    await dockerd.docker('rmi', 'node:17-alpine', 'myorg/app:1.0');
    const before = e2e.upstreamBlobGets().length;
    await dockerd.docker('pull', 'node:17-alpine');
    expect(e2e.upstreamBlobGets().length).toBe(before);
    const blobLines = e2e.mirror.logs.requests().filter((l) => String(l.path).includes('/blobs/'));
    expect(blobLines.at(-1)?.cache).toBe('hit');
  });

  it('after `cargohold warm node:16-alpine`, docker pull succeeds with the upstream stopped', async () => {
    const warm = startCli(['warm', 'node:16-alpine', '--data-dir', e2e.mirror.dataDir, '--upstream', e2e.upstream.url]);
    expect((await warm.exited).code, warm.output()).toBe(0);
    await e2e.upstream.stop();
    await dockerd.docker('pull', 'node:16-alpine');
    expect(e2e.mirrorServed('HEAD', '/v2/library/node/manifests/16-alpine')).toBe(true);
    expect(e2e.mirror.logs.requests().some((l) => l.path === '/v2/library/node/manifests/16-alpine' && l.cache === 'stale')).toBe(true);
    const out = await dockerd.docker('run', '--rm', '--network', 'none', 'node:16-alpine', 'cat', '/etc/os-release');
    expect(out).toContain('VERSION_ID=16');
  });
});
