import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { missingTools, run } from '../support/peers.js';
import { useE2E } from './setup.js';

const missing = missingTools('docker-registry', 'containerd', 'ctr', 'skopeo');

describe.skipIf(missing)('containerd pulls through cargohold (hosts.toml, ?ns=docker.io)', () => {
  const e2e = useE2E('containerd');
  let containerd: Containerd;
  beforeAll(async () => {
    containerd = await startContainerd(e2e.dir, e2e.mirrorHost);
  });
  afterAll(async () => {
    await containerd?.stop();
  });

  it('ctr image pull docker.io/library/node:17-alpine resolves with HEAD ?ns=docker.io, no /v2/ ping, upstream digest', async () => {
    await containerd.pull('docker.io/library/node:17-alpine');
    const lines = e2e.mirror.logs.requests();
    expect(
      lines.some((l) => l.method === 'HEAD' && l.path === '/v2/library/node/manifests/17-alpine' && l.query === 'ns=docker.io' && l.status === 200),
    ).toBe(true);
    expect(lines.some((l) => l.path === '/v2/')).toBe(false);
    for (const blob of e2e.images.node17.blobs) expect(e2e.mirrorServed('GET', `/v2/library/node/blobs/${blob.digest}`)).toBe(true);
    const list = await containerd.ctr('image', 'ls');
    expect(list).toContain(e2e.images.node17.manifest.digest);
    const out = await containerd.ctr('run', '--rm', 'docker.io/library/node:17-alpine', 'cargohold-e2e', 'cat', '/etc/os-release');
    expect(out).toContain('VERSION_ID=17');
  });

  it('pulls the host platform of a Docker manifest list', async () => {
    await containerd.pull('docker.io/library/multi-list:latest');
    const amd = e2e.images.multiDocker.images[0]?.image.manifest.digest as string;
    const arm = e2e.images.multiDocker.images[1]?.image.manifest.digest as string;
    expect(e2e.mirrorServed('GET', `/v2/library/multi-list/manifests/${amd}`)).toBe(true);
    expect(e2e.mirror.logs.requests().some((l) => String(l.path).includes(arm))).toBe(false);
  });

  it('after skopeo fetched an image, ctr pulling it sends no blob request upstream', async () => {
    await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${e2e.mirrorHost}/myorg/app:1.0`, `dir:${e2e.dir}/app`]);
    const before = e2e.upstreamBlobGets().length;
    await containerd.pull('docker.io/myorg/app:1.0');
    expect(e2e.upstreamBlobGets().length).toBe(before);
  });
});
