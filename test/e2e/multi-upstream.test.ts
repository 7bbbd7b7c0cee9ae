import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { image, layer, type Image } from '../fixtures/images.js';
import { busyboxLayer } from '../fixtures/test-images.js';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { missingTools, run, startDistribution, type Distribution } from '../support/peers.js';
import { setupPodman, type Podman } from '../support/podman.js';
import { pushImage } from '../support/registry-push.js';

const missing = missingTools('docker-registry', 'containerd', 'ctr', 'skopeo', 'podman', 'dockerd', 'docker');

/** A runnable image whose /etc/os-release says which registry it came from. */
function imageFrom(origin: string): Image {
  return image([busyboxLayer(), layer([{ name: 'etc/os-release', content: `NAME="cargohold test"\nVERSION_ID=${origin}\nID=cargohold\n` }])]);
}

/**
 * One cargohold in front of two real distribution registries, standing in for docker.io and
 * ghcr.io, each holding a different foo/bar:1: the real clients, configured with the
 * snippets of config/clients, must get each registry's own image.
 */
describe.skipIf(missing)('several upstreams behind one cargohold, real clients', () => {
  let dir: string;
  let hub: Distribution;
  let ghcr: Distribution;
  let mirror: Mirror;
  let mirrorHost: string;
  const images = { hub: imageFrom('hub'), ghcr: imageFrom('ghcr') };

  const served = (method: string, path: string, query?: string) =>
    mirror.logs
      .requests()
      .some((l) => l.method === method && l.path === path && (query === undefined || l.query === query) && Number(l.status) === 200);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cargohold-e2e-multi-'));
    hub = await startDistribution(join(dir, 'hub'));
    ghcr = await startDistribution(join(dir, 'ghcr'));
    await pushImage(hub.url, 'foo/bar', '1', images.hub);
    await pushImage(ghcr.url, 'foo/bar', '1', images.ghcr);
    mirror = await startMirror(hub.url, { upstreams: { 'ghcr.io': { url: ghcr.url } } }, join(dir, 'mirror'));
    mirrorHost = mirror.url.replace('http://', '');
  });
  afterAll(async () => {
    await mirror?.close();
    await hub?.stop();
    await ghcr?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('containerd: certs.d/docker.io/hosts.toml and certs.d/ghcr.io/hosts.toml both point at cargohold', () => {
    let containerd: Containerd;
    beforeAll(async () => {
      containerd = await startContainerd(join(dir, 'ctrd'), mirrorHost, {
        'docker.io': 'containerd-hosts.toml',
        'ghcr.io': 'containerd-hosts-ghcr.toml',
      });
    });
    afterAll(async () => {
      await containerd?.stop();
    });

    it('pulls docker.io/foo/bar:1 and ghcr.io/foo/bar:1: two images, each from its own registry (?ns=)', async () => {
      await containerd.pull('docker.io/foo/bar:1');
      await containerd.pull('ghcr.io/foo/bar:1');
      expect(served('HEAD', '/v2/foo/bar/manifests/1', 'ns=docker.io')).toBe(true);
      expect(served('HEAD', '/v2/foo/bar/manifests/1', 'ns=ghcr.io')).toBe(true);
      const list = await containerd.ctr('image', 'ls');
      const digestOf = (ref: string) =>
        list
          .split('\n')
          .find((l) => l.startsWith(`${ref} `))
          ?.match(/sha256:[0-9a-f]{64}/)?.[0];
      expect(digestOf('docker.io/foo/bar:1')).toBe(images.hub.manifest.digest);
      expect(digestOf('ghcr.io/foo/bar:1')).toBe(images.ghcr.manifest.digest);
      // The ghcr.io image's own layer came from ghcr's registry, not the hub's.
      const own = images.ghcr.layers.at(-1)?.digest as string;
      expect(ghcr.requests().some((r) => r.method === 'GET' && r.path === `/v2/foo/bar/blobs/${own}` && r.status === 200)).toBe(true);
      expect(hub.requests().some((r) => r.path.includes(own))).toBe(false);
    });
  });

  describe('podman: registries.conf with a path-prefix mirror location (mirror/ghcr.io)', () => {
    let podman: Podman;
    beforeAll(() => {
      podman = setupPodman(join(dir, 'pm'), mirrorHost, 'podman-registries-upstreams.conf');
    });
    afterAll(async () => {
      await podman?.cleanup();
    });

    it('pulls ghcr.io/foo/bar:1 through /v2/ghcr.io/... and docker.io/foo/bar:1 through the default, each its own image', async () => {
      await podman.podman('pull', 'ghcr.io/foo/bar:1');
      await podman.podman('pull', 'docker.io/foo/bar:1');
      expect(served('GET', '/v2/ghcr.io/foo/bar/manifests/1')).toBe(true);
      expect(served('GET', '/v2/foo/bar/manifests/1')).toBe(true);
      const digest = async (ref: string) => (await podman.podman('image', 'inspect', '--format', '{{.Digest}}', ref)).trim();
      expect(await digest('ghcr.io/foo/bar:1')).toBe(images.ghcr.manifest.digest);
      expect(await digest('docker.io/foo/bar:1')).toBe(images.hub.manifest.digest);
    });
  });

  it('skopeo by path prefix: ghcr.io/foo/bar and docker.io/foo/bar are the two images; an unknown host is refused', async () => {
    const inspect = async (path: string) =>
      JSON.parse((await run('skopeo', ['--insecure-policy', 'inspect', '--tls-verify=false', `docker://${mirrorHost}/${path}`])).stdout) as {
        Digest: string;
      };
    expect((await inspect('ghcr.io/foo/bar:1')).Digest).toBe(images.ghcr.manifest.digest);
    expect((await inspect('docker.io/foo/bar:1')).Digest).toBe(images.hub.manifest.digest);
    expect((await inspect('foo/bar:1')).Digest).toBe(images.hub.manifest.digest);
    await run('skopeo', [
      '--insecure-policy',
      'copy',
      '--src-tls-verify=false',
      `docker://${mirrorHost}/ghcr.io/foo/bar:1`,
      `dir:${join(dir, 'sk')}`,
    ]);
    const refused = await run('skopeo', ['--insecure-policy', 'inspect', '--tls-verify=false', `docker://${mirrorHost}/quay.io/foo/bar:1`], {
      allowFail: true,
    });
    expect(refused.status).not.toBe(0);
    expect(`${refused.stdout}${refused.stderr}`).toMatch(/name unknown|NAME_UNKNOWN|no upstream is configured/i);
  });

  describe('dockerd: registry-mirrors still serves docker.io', () => {
    let dockerd: Dockerd;
    beforeAll(async () => {
      dockerd = await startDockerd(join(dir, 'dk'), mirrorHost);
    });
    afterAll(async () => {
      await dockerd?.stop();
    });

    it('docker pull foo/bar:1 gets the docker.io image and runs it', async () => {
      await dockerd.docker('pull', 'foo/bar:1');
      expect(served('HEAD', '/v2/foo/bar/manifests/1')).toBe(true);
      const repoDigests = await dockerd.docker('image', 'inspect', '--format', '{{json .RepoDigests}}', 'foo/bar:1');
      expect(JSON.parse(repoDigests)).toContain(`foo/bar@${images.hub.manifest.digest}`);
      const out = await dockerd.docker('run', '--rm', '--network', 'none', 'foo/bar:1', 'cat', '/etc/os-release');
      expect(out).toContain('VERSION_ID=hub');
    });

    it('docker pull <mirror>/ghcr.io/foo/bar:1 gets the ghcr.io image by path prefix', async () => {
      await dockerd.docker('pull', `${mirrorHost}/ghcr.io/foo/bar:1`);
      expect(served('HEAD', '/v2/ghcr.io/foo/bar/manifests/1')).toBe(true);
      const out = await dockerd.docker('run', '--rm', '--network', 'none', `${mirrorHost}/ghcr.io/foo/bar:1`, 'cat', '/etc/os-release');
      expect(out).toContain('VERSION_ID=ghcr');
    });
  });
});
