import { createHash } from 'node:crypto';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { cephInstalled, makeBucket, useCeph, type Ceph } from '../support/ceph.js';
import { FakeHub } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { missingPostgres, startPostgres, type PostgresCluster } from '../support/postgres.js';
import { CLUSTER_SECRET, replicaConfig, startReplica, stopReplicas, type Replica, type SharedBackends } from '../support/replicas.js';
import { waitFor } from '../support/wait.js';

const MiB = 1024 * 1024;

/** GETs a blob and hashes it as it arrives: its sha256 digest and length, and when the first bytes came. */
async function fetchDigest(agent: Agent, base: string, path: string, onFirstBytes: () => void): Promise<{ status: number; digest: string; bytes: number }> {
  const res = await agent.request({ origin: base, path, method: 'GET' });
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body) {
    if (bytes === 0) onFirstBytes();
    bytes += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  return { status: res.statusCode, digest: `sha256:${hash.digest('hex')}`, bytes };
}

const postgresMissing = missingPostgres();
describe.skipIf(!cephInstalled() || postgresMissing !== undefined)('replicas on one PostgreSQL database and one S3 bucket', () => {
  let ceph: Ceph;
  let bucket: Awaited<ReturnType<typeof makeBucket>>;
  let postgres: PostgresCluster;
  let hub: FakeHub;
  let shared: SharedBackends;
  let replicas: Replica[] = [];
  let test = 0;

  beforeAll(async () => {
    [ceph, postgres] = await Promise.all([useCeph(), startPostgres()]);
    bucket = await makeBucket(ceph, 'replicas');
  });
  afterAll(async () => {
    await bucket?.remove();
    await postgres?.stop();
  });
  beforeEach(async () => {
    hub = await FakeHub.start();
    shared = { postgresUrl: await postgres.createDatabase(), ceph, bucket: bucket.name, prefix: `t${++test}/`, secret: CLUSTER_SECRET };
  });
  afterEach(async () => {
    await stopReplicas(replicas.splice(0));
    await hub.close();
  });

  async function start(count: number, secret: string | undefined = CLUSTER_SECRET): Promise<Replica[]> {
    const config = replicaConfig(hub.registryUrl, { ...shared, secret }, { upstream: hub.trusted });
    const started = await Promise.all(Array.from({ length: count }, (_, i) => startReplica(`r${replicas.length + i}`, config)));
    replicas.push(...started);
    return started;
  }

  it('20 cold clients spread over 3 replicas on one 200 MiB blob: one upstream GET, 20 verified bodies, streamed while the upstream is paused', async () => {
    const layer = randomLayer(200 * MiB);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: MiB, release: new Promise<void>((resolve) => (release = resolve)) });
    const three = await start(3);
    const agent = new Agent({ connections: 32, bodyTimeout: 60_000 });
    let firstBytes = 0;
    const clients = Array.from({ length: 20 }, (_, i) =>
      fetchDigest(agent, three[i % 3]!.url, `/v2/library/node/blobs/${layer.digest}`, () => firstBytes++),
    );
    // Every client, on every replica, has bytes while the upstream still holds back all but the first MiB.
    await waitFor(() => firstBytes === 20, 20_000, 'first bytes on all 20 clients');
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    release();
    const bodies = await Promise.all(clients);
    await agent.close();
    for (const body of bodies) expect(body).toEqual({ status: 200, digest: layer.digest, bytes: layer.bytes.length });
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    // Two replicas streamed it from the one that filled it.
    const streamed = three.filter((r) => r.logs().some((l) => l.msg === 'request' && String(l.path).startsWith('/_cargohold/v1/fills/')));
    expect(streamed).toHaveLength(1);
    // Stored once, and served from the bucket by every replica now, with no upstream GET.
    for (const r of three) {
      const again = await fetchDigest(new Agent(), r.url, `/v2/library/node/blobs/${layer.digest}`, () => undefined);
      expect(again).toEqual({ status: 200, digest: layer.digest, bytes: layer.bytes.length });
    }
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
  }, 120_000);

  it('the internal endpoint answers only with the shared secret', async () => {
    const [one] = await start(1);
    const layer = randomLayer(1000);
    const path = `/_cargohold/v1/fills/${layer.digest}`;
    for (const authorization of [undefined, 'Bearer wrong-secret-0123456789', `Basic ${CLUSTER_SECRET}`]) {
      const reply = await http(one!.url, path, { headers: authorization ? { authorization } : {} });
      expect(reply.status).toBe(401);
      expect(errorCode(reply)).toBe('UNAUTHORIZED');
    }
    const reply = await http(one!.url, path, { headers: { authorization: `Bearer ${CLUSTER_SECRET}` } });
    expect(reply.status).toBe(404);
    expect(errorCode(reply)).toBe('BLOB_UNKNOWN');
    // It never goes upstream.
    expect(hub.count({})).toBe(0);
  });
});
