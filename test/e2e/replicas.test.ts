import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestImages, type TestImages } from '../fixtures/test-images.js';
import { sha256 } from '../fixtures/images.js';
import { cephInstalled, makeBucket, useCeph } from '../support/ceph.js';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { startLoadBalancer, type LoadBalancer } from '../support/load-balancer.js';
import { missingTools, run, startDistribution, type Distribution } from '../support/peers.js';
import { setupPodman, type Podman } from '../support/podman.js';
import { missingPostgres, startPostgres, type PostgresCluster } from '../support/postgres.js';
import { pushImage } from '../support/registry-push.js';
import { http } from '../support/http.js';
import { CLUSTER_SECRET, replicaConfig, startReplica, stopReplicas, type Replica } from '../support/replicas.js';

const missing = missingTools('docker-registry', 'nginx', 'skopeo', 'dockerd', 'docker', 'containerd', 'ctr', 'podman');
const postgresMissing = missingPostgres();

const runnable = missing === undefined && postgresMissing === undefined && cephInstalled();

for (const count of [3, 2]) {
  describe.skipIf(!runnable)(
    `${count} replicas on PostgreSQL and Ceph behind nginx: skopeo, dockerd, containerd and podman pull through them`,
    () => {
      let dir: string;
      let upstream: Distribution;
      let images: TestImages;
      let postgres: PostgresCluster;
      let bucket: Awaited<ReturnType<typeof makeBucket>>;
      let replicas: Replica[] = [];
      let lb: LoadBalancer;
      let config: ReturnType<typeof replicaConfig>;

      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'cargohold-e2e-replicas-'));
        const [ceph, pg] = await Promise.all([
          useCeph(),
          startPostgres(),
          (async () => (upstream = await startDistribution(join(dir, 'upstream'))))(),
        ]);
        postgres = pg;
        bucket = await makeBucket(ceph, 'e2e-replicas');
        images = buildTestImages();
        await pushImage(upstream.url, 'library/node', '17-alpine', images.node17);
        await pushImage(upstream.url, 'library/node', '16-alpine', images.node16);
        await pushImage(upstream.url, 'myorg/app', '1.0', images.app);
        await pushImage(upstream.url, 'library/multi', 'latest', images.multiOci);
        await pushImage(upstream.url, 'library/multi-list', 'latest', images.multiDocker);
        config = replicaConfig(upstream.url, {
          postgresUrl: await postgres.createDatabase(),
          ceph,
          bucket: bucket.name,
          prefix: 'e2e/',
          secret: CLUSTER_SECRET,
        });
        replicas = await Promise.all(Array.from({ length: count }, (_, i) => startReplica(`e2e-r${i}`, config)));
        lb = await startLoadBalancer(
          join(dir, 'lb'),
          replicas.map((r) => `127.0.0.1:${r.port}`),
        );
      }, 180_000);
      afterAll(async () => {
        await lb?.stop();
        await stopReplicas(replicas);
        await upstream?.stop();
        await bucket?.remove();
        await postgres?.stop();
        if (dir) rmSync(dir, { recursive: true, force: true });
      });

      /** Upstream blob GETs so far, per digest. */
      const upstreamBlobGets = () => {
        const counts = new Map<string, number>();
        for (const r of upstream.requests()) {
          if (r.method !== 'GET' || !r.path.includes('/blobs/sha256:')) continue;
          const digest = r.path.slice(r.path.indexOf('sha256:'));
          counts.set(digest, (counts.get(digest) ?? 0) + 1);
        }
        return counts;
      };
      /** Did a replica answer this with a 2xx (the replicas' own access logs: engines fall back to Docker Hub silently)? */
      const served = (method: string, path: string) =>
        replicas.some((r) => r.logs().some((l) => l.msg === 'request' && l.method === method && l.path === path && Number(l.status) < 300));

      it('skopeo copies node:17-alpine through the balancer, each blob fetched upstream once, the requests spread over the replicas', async () => {
        const out = join(dir, 'skopeo-node17');
        await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${lb.host}/library/node:17-alpine`, `dir:${out}`]);
        for (const blob of images.node17.blobs) expect(sha256(readFileSync(join(out, blob.digest.slice(7))))).toBe(blob.digest);
        const gets = upstreamBlobGets();
        for (const blob of images.node17.blobs) expect(gets.get(blob.digest)).toBe(1);
        const backends = new Set(lb.requests().flatMap((r) => (r.uri.startsWith('/v2/') ? r.backend.split(', ') : [])));
        expect(backends.size).toBe(count);
        // Again: every blob from the bucket, none upstream.
        await run('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${lb.host}/library/node:17-alpine`, `dir:${out}-2`]);
        expect(upstreamBlobGets()).toEqual(gets);
      });

      describe('dockerd (registry-mirrors)', () => {
        let dockerd: Dockerd;
        beforeAll(async () => {
          dockerd = await startDockerd(join(dir, 'docker'), lb.host);
        }, 120_000);
        afterAll(async () => {
          await dockerd?.stop();
        });

        it('pulls node:16-alpine by short name with the upstream digest, and runs it', async () => {
          await dockerd.docker('pull', 'node:16-alpine');
          expect(served('HEAD', '/v2/library/node/manifests/16-alpine')).toBe(true);
          for (const blob of images.node16.blobs) expect(served('GET', `/v2/library/node/blobs/${blob.digest}`)).toBe(true);
          const repoDigests = await dockerd.docker('image', 'inspect', '--format', '{{json .RepoDigests}}', 'node:16-alpine');
          expect(JSON.parse(repoDigests)).toContain(`node@${images.node16.manifest.digest}`);
          const os = await dockerd.docker('run', '--rm', '--network', 'none', 'node:16-alpine', 'cat', '/etc/os-release');
          expect(os).toContain('VERSION_ID=16');
          for (const count of upstreamBlobGets().values()) expect(count).toBe(1);
        });
      });

      describe('containerd (hosts.toml)', () => {
        let containerd: Containerd;
        beforeAll(async () => {
          containerd = await startContainerd(join(dir, 'containerd'), lb.host);
        }, 120_000);
        afterAll(async () => {
          await containerd?.stop();
        });

        it('pulls myorg/app:1.0, fetching upstream only the layer no other image shares, and runs it', async () => {
          await containerd.pull('docker.io/myorg/app:1.0');
          expect(await containerd.ctr('image', 'ls')).toContain(images.app.manifest.digest);
          const os = await containerd.ctr('run', '--rm', 'docker.io/myorg/app:1.0', 'cargohold-e2e-replicas', 'cat', '/etc/os-release');
          expect(os).toContain('VERSION_ID=17');
          for (const count of upstreamBlobGets().values()) expect(count).toBe(1);
        });
      });

      describe('podman (registries.conf)', () => {
        let podman: Podman;
        beforeAll(() => {
          podman = setupPodman(join(dir, 'podman'), lb.host);
        });
        afterAll(async () => {
          await podman?.cleanup();
        });

        it('pulls the arm64 image of a multi-arch index', async () => {
          await podman.podman('pull', '--arch', 'arm64', 'docker.io/library/multi:latest');
          const arm = images.multiOci.images[1]?.image.manifest.digest as string;
          expect(served('GET', `/v2/library/multi/manifests/${arm}`)).toBe(true);
        });

        it('keeps pulling when a replica is killed, and a replacement with an empty data dir serves from the shared store', async () => {
          const [victim] = replicas.splice(0, 1) as [Replica];
          await victim.kill();
          // nginx retries a GET that cannot reach the dead one on the next.
          await podman.podman('pull', 'docker.io/library/multi-list:latest');
          const digest = await podman.podman('image', 'inspect', '--format', '{{.Digest}}', 'docker.io/library/multi-list:latest');
          expect(digest.trim()).toBe(images.multiDocker.index.digest);
          // Its replacement, on its port with a new data dir, has nothing local: what it serves comes from the bucket.
          rmSync(victim.dataDir, { recursive: true, force: true });
          const replacement = await startReplica('e2e-r0b', config, { port: victim.port });
          replicas.push(replacement);
          const before = upstreamBlobGets();
          for (const blob of images.node17.blobs) {
            const reply = await http(replacement.url, `/v2/library/node/blobs/${blob.digest}`);
            expect(reply.status).toBe(200);
            expect(reply.headers['x-cargohold-cache']).toBe('hit');
            expect(reply.sha256()).toBe(blob.digest);
          }
          expect(upstreamBlobGets()).toEqual(before);
          for (const count of upstreamBlobGets().values()) expect(count).toBe(1);
        });
      });
    },
  );
}
