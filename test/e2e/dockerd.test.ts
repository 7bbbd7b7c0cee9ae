import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestImages, type TestImages } from '../fixtures/test-images.js';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { missingTools, startDistribution, type Distribution } from '../support/peers.js';
import { pushImage } from '../support/registry-push.js';

const missing = missingTools('docker-registry', 'dockerd', 'docker');

describe.skipIf(missing)('dockerd pulls through cargohold (registry-mirrors), Docker Hub unreachable', () => {
  let dir: string;
  let upstream: Distribution;
  let mirror: Mirror;
  let dockerd: Dockerd;
  let images: TestImages;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cargohold-e2e-docker-'));
    upstream = await startDistribution(join(dir, 'upstream'));
    images = buildTestImages();
    await pushImage(upstream.url, 'library/node', '17-alpine', images.node17);
    await pushImage(upstream.url, 'library/node', '16-alpine', images.node16);
    await pushImage(upstream.url, 'myorg/app', '1.0', images.app);
    await pushImage(upstream.url, 'library/multi', 'latest', images.multiOci);
    mirror = await startMirror(upstream.url, {}, join(dir, 'mirror'));
    dockerd = await startDockerd(dir, mirror.url.replace('http://', ''));
  });

  afterAll(async () => {
    await dockerd?.stop();
    await mirror?.close();
    await upstream?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Docker falls back to Docker Hub silently: prove each pull went through the mirror by its own log. */
  const mirrorSaw = (method: string, path: string) => mirror.logs.requests().some((l) => l.method === method && l.path === path && l.status === 200);
  const blobGets = () => upstream.requests().filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));

  it('docker pull node:17-alpine by short name, with the upstream digest, and runs it', async () => {
    await dockerd.docker('pull', 'node:17-alpine');
    expect(mirrorSaw('HEAD', '/v2/library/node/manifests/17-alpine')).toBe(true);
    for (const blob of images.node17.blobs) expect(mirrorSaw('GET', `/v2/library/node/blobs/${blob.digest}`)).toBe(true);
    const repoDigests = await dockerd.docker('image', 'inspect', '--format', '{{json .RepoDigests}}', 'node:17-alpine');
    expect(JSON.parse(repoDigests)).toContain(`node@${images.node17.manifest.digest}`);
    const out = await dockerd.docker('run', '--rm', '--network', 'none', 'node:17-alpine', 'cat', '/etc/os-release');
    expect(out).toContain('VERSION_ID=17');
  });

  it('docker pull myorg/app:1.0 reuses the shared layers and fetches only the new one', async () => {
    const before = blobGets().length;
    await dockerd.docker('pull', 'myorg/app:1.0');
    expect(mirrorSaw('HEAD', '/v2/myorg/app/manifests/1.0')).toBe(true);
    const shared = images.node17.layers.map((l) => l.digest);
    const fetched = blobGets().slice(before).map((r) => r.path);
    for (const digest of shared) expect(fetched.some((p) => p.endsWith(digest))).toBe(false);
    const own = images.app.layers[2]?.digest as string;
    expect(fetched.some((p) => p.endsWith(own))).toBe(true);
  });

  it('docker pull --platform linux/arm64 multi fetches the arm64 manifest only', async () => {
    await dockerd.docker('pull', '--platform', 'linux/arm64', 'multi');
    const arm = images.multiOci.images[1]?.image.manifest.digest as string;
    const amd = images.multiOci.images[0]?.image.manifest.digest as string;
    expect(mirrorSaw('GET', `/v2/library/multi/manifests/${arm}`)).toBe(true);
    expect(mirror.logs.requests().some((l) => String(l.path).includes(amd))).toBe(false);
  });

  it('a second pull sends no blob request upstream', async () => {
    await dockerd.docker('rmi', 'node:17-alpine', 'myorg/app:1.0');
    const before = blobGets().length;
    await dockerd.docker('pull', 'node:17-alpine');
    expect(blobGets().length).toBe(before);
    expect(mirror.logs.requests().filter((l) => String(l.path).includes('/blobs/')).at(-1)?.cache).toBe('hit');
  });
});
