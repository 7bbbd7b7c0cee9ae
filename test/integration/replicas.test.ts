import { createHash } from 'node:crypto';
import { Agent } from 'undici';
import type { ConfigInput } from '../../src/config/schema.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { cephInstalled, makeBucket, useCeph, type Ceph } from '../support/ceph.js';
import { FakeHub } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { missingPostgres, startPostgres, type PostgresCluster } from '../support/postgres.js';
import { CLUSTER_SECRET, replicaConfig, startReplica, stopReplicas, type Replica, type SharedBackends } from '../support/replicas.js';
import { waitFor } from '../support/wait.js';
import { startCli } from '../support/cli-process.js';
import { AdminClient } from '../../src/admin/admin-client.js';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';

const MiB = 1024 * 1024;

/** GETs a blob and hashes it as it arrives: its sha256 digest and length, and when the first bytes came. */
async function fetchDigest(
  agent: Agent,
  base: string,
  path: string,
  onFirstBytes: () => void,
): Promise<{ status: number; digest: string; bytes: number }> {
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
  const replicas: Replica[] = [];
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

  async function start(count: number, withSecret = true, extra: ConfigInput = {}): Promise<Replica[]> {
    const config = replicaConfig(
      hub.registryUrl,
      { ...shared, secret: withSecret ? CLUSTER_SECRET : undefined },
      { upstream: hub.trusted, ...extra },
    );
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

  it('a replica killed with SIGKILL mid-fill: its own client sees a broken transfer, the replica streaming from it resumes from the upstream, and the next pull is fetched by another', async () => {
    const layer = randomLayer(20 * MiB);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: MiB, release: new Promise<void>((resolve) => (release = resolve)) });
    // Claims live 60 s unless renewed: the dead owner's is still there when the next pull comes, and must be taken over.
    const [a, b] = await start(2, true, { cluster: { claimTtlMs: 60_000 } });
    const path = `/v2/library/node/blobs/${layer.digest}`;
    const agent = new Agent({ bodyTimeout: 30_000 });
    let first = 0;
    // Settled into values at once: both settle while the test awaits other things.
    const outcome = (p: Promise<unknown>) =>
      p.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
    const onA = outcome(fetchDigest(agent, a!.url, path, () => first++));
    await waitFor(() => first === 1, 10_000, 'the owner to stream');
    const onB = outcome(fetchDigest(agent, b!.url, path, () => first++));
    await waitFor(() => first === 2, 10_000, 'the second replica to stream from the owner');
    await a!.kill();
    hub.blobBehaviour.delete(layer.digest);
    release();
    // The owner's client: a broken transfer, never a short blob that looks whole.
    expect(await onA).toMatchObject({ error: expect.any(Error) });
    // The other replica's client: the whole blob, the rest fetched from where the owner stopped, verified end to end.
    expect(await onB).toEqual({ value: { status: 200, digest: layer.digest, bytes: layer.bytes.length } });
    expect(b!.logs().some((l) => l.msg === 'the replica filling this blob broke off: resuming from the upstream')).toBe(true);
    const ranged = hub.requests.filter((r) => r.server === 'cdn' && r.method === 'GET' && r.range !== undefined);
    expect(ranged).toHaveLength(1);
    expect(ranged[0]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(2);
    // A resumed blob is not stored; the next pull claims it: the dead owner's claim is taken over at once (its port refuses).
    const again = await fetchDigest(agent, b!.url, path, () => undefined);
    await agent.close();
    expect(again).toEqual({ status: 200, digest: layer.digest, bytes: layer.bytes.length });
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(3);
    expect(b!.logs().some((l) => l.msg === 'the replica filling this blob is unreachable: taking its fill over')).toBe(true);
    // And it stored it: a fresh replica serves it from the bucket.
    const [c] = await start(1);
    expect(await fetchDigest(new Agent(), c!.url, path, () => undefined)).toEqual({ status: 200, digest: layer.digest, bytes: layer.bytes.length });
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(3);
  }, 60_000);

  it('without the shared secret a replica waits for the owner to store the blob, then serves it from the bucket: still one upstream GET', async () => {
    const layer = randomLayer(12 * MiB);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: MiB, release: new Promise<void>((resolve) => (release = resolve)) });
    const [a, b] = await start(2, false);
    const path = `/v2/library/node/blobs/${layer.digest}`;
    const agent = new Agent({ bodyTimeout: 30_000 });
    let first = 0;
    const onA = fetchDigest(agent, a!.url, path, () => first++);
    await waitFor(() => first === 1, 10_000, 'the owner to stream');
    let bFirst = false;
    const onB = fetchDigest(agent, b!.url, path, () => (bFirst = true));
    // b has claimed and is waiting; it cannot stream (no secret), and the upstream has sent one MiB only.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(bFirst).toBe(false);
    release();
    expect(await onA).toEqual({ status: 200, digest: layer.digest, bytes: layer.bytes.length });
    expect(await onB).toEqual({ status: 200, digest: layer.digest, bytes: layer.bytes.length });
    await agent.close();
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    expect(a!.logs().some((l) => typeof l.path === 'string' && l.path.startsWith('/_cargohold/'))).toBe(false);
    // b's answer came from the bucket: a hit.
    await waitFor(() => b!.logs().some((l) => l.msg === 'request' && l.path === path), 5000, "b's access log line");
    expect(b!.logs().find((l) => l.msg === 'request' && l.path === path)).toMatchObject({ status: 200, cache: 'hit' });
  }, 60_000);

  it('12 clients over 3 replicas asking for an uncached tag: one manifest GET upstream', async () => {
    const layer = randomLayer(1000);
    const img = image([layer]);
    hub.push('library/redis', '7', img);
    const three = await start(3);
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        http(three[i % 3]!.url, '/v2/library/redis/manifests/7', { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } }),
      ),
    );
    for (const reply of replies) {
      expect(reply.status).toBe(200);
      expect(reply.headers['docker-content-digest']).toBe(img.manifest.digest);
    }
    // One GET with a token (before it, the one 401 that taught the filling replica the token realm; the others asked nothing).
    const gets = hub.requests.filter((r) => r.server === 'registry' && r.method === 'GET' && r.path === '/v2/library/redis/manifests/7');
    expect(gets.filter((r) => r.authorization !== undefined)).toHaveLength(1);
    expect(gets).toHaveLength(2);
  });

  it('a cached tag past its TTL asked for by 12 clients over 3 replicas: one revalidation HEAD upstream', async () => {
    const img = image([randomLayer(1000)]);
    hub.push('library/redis', '7', img);
    const three = await start(3); // tag TTL 0: every request revalidates
    const accept = { accept: 'application/vnd.docker.distribution.manifest.v2+json' };
    expect((await http(three[0]!.url, '/v2/library/redis/manifests/7', { headers: accept })).status).toBe(200);
    const heads = () => hub.requests.filter((r) => r.method === 'HEAD' && r.path === '/v2/library/redis/manifests/7' && r.authorization).length;
    // The first revalidation HEAD is held upstream until every client has asked.
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    hub.gate = (req) => (req.method === 'HEAD' ? opened : undefined);
    const replies = Promise.all(Array.from({ length: 12 }, (_, i) => http(three[i % 3]!.url, '/v2/library/redis/manifests/7', { headers: accept })));
    await waitFor(() => heads() === 1, 10_000, 'the one HEAD');
    await new Promise((resolve) => setTimeout(resolve, 2000)); // every client's request is in by now (not a timing assertion: a sync margin)
    open();
    for (const reply of await replies) {
      expect(reply.status).toBe(200);
      expect(reply.headers['docker-content-digest']).toBe(img.manifest.digest);
    }
    expect(heads()).toBe(1);
    expect(hub.count({ server: 'registry', method: 'GET', path: '/v2/library/redis/manifests/7' })).toBe(2); // the first pull: the 401, then the GET
  });

  it('a replica that runs into the pull quota blocks manifest GETs on every replica, and a lift on one lifts it everywhere', async () => {
    hub.push('library/redis', '7', image([randomLayer(1000)]));
    hub.push('library/redis', '8', image([randomLayer(1000)]));
    hub.pullQuota = { limit: 100, remaining: 0 };
    const [a, b] = await start(2);
    const accept = { accept: 'application/vnd.docker.distribution.manifest.v2+json' };
    expect((await http(a!.url, '/v2/library/redis/manifests/7', { headers: accept })).status).toBe(429);
    await waitFor(
      () => b!.logs().some((l) => String(l.msg).startsWith('another replica reports: upstream answered 429')),
      10_000,
      'b to take the block',
    );
    const gets = hub.count({ server: 'registry', method: 'GET', path: /\/manifests\// });
    const onB = await http(b!.url, '/v2/library/redis/manifests/8', { headers: accept });
    expect(onB.status).toBe(429);
    expect(errorCode(onB)).toBe('TOOMANYREQUESTS');
    // b sent nothing upstream: it knew.
    expect(hub.count({ server: 'registry', method: 'GET', path: /\/manifests\// })).toBe(gets);
    // The operator lifts it on a (through its admin API): b lifts it too.
    hub.pullQuota = { limit: 100, remaining: 50 };
    const socket = a!.logs().find((l) => l.msg === 'cargohold listening')?.admin as string;
    expect((await new AdminClient(socket).clearRateLimit()).cleared).toBe(true);
    await waitFor(() => b!.logs().some((l) => l.msg === 'upstream rate limit block lifted: manifest GETs go upstream again'), 10_000, 'b to lift it');
    expect((await http(b!.url, '/v2/library/redis/manifests/8', { headers: accept })).status).toBe(200);
  }, 60_000);

  it('GC on one replica while another serves the blob: kept while it is read there, removed once it is not', async () => {
    const layer = randomLayer(8 * MiB);
    hub.push('library/node', 'latest', image([layer]));
    const extra = { cache: { gcGraceMinutes: 0, gcEveryMinutes: 0 } };
    const config = replicaConfig(hub.registryUrl, shared, { upstream: hub.trusted, ...extra });
    const a = await startReplica('gc-a', config);
    const b = await startReplica('gc-b', config);
    replicas.push(a, b);
    const path = `/v2/library/node/blobs/${layer.digest}`;
    // Stored by b, referenced by no manifest: garbage as soon as nobody reads it.
    expect(await fetchDigest(new Agent(), b.url, path, () => undefined)).toMatchObject({ status: 200, digest: layer.digest });
    await waitFor(async () => (await keysUnder(`${shared.prefix}blobs/`)).length === 1, 10_000, 'the blob in the bucket');
    // A client on b reads the first bytes, then stops reading (the rest waits in b's socket).
    const hash = createHash('sha256');
    let length = 0;
    let response!: IncomingMessage;
    await new Promise<void>((resolve, reject) => {
      const req = httpGet(`${b.url}${path}`, (res) => {
        response = res;
        res.once('data', (chunk: Buffer) => {
          res.pause();
          hash.update(chunk);
          length += chunk.length;
          resolve();
        });
      });
      req.on('error', reject);
    });
    const gc = async () => {
      const cli = startCli(['gc', '--json', '--config', a.configFile]);
      expect((await cli.exited).code).toBe(0);
      return JSON.parse(
        cli
          .output()
          .split('\n')
          .find((l) => l.startsWith('{"eviction"')) as string,
      ) as { gc: { unreferenced: { blobs: number }; skippedInUse: number } };
    };
    const during = await gc();
    expect(during.gc.unreferenced.blobs).toBe(0);
    expect(during.gc.skippedInUse).toBe(1);
    expect(await keysUnder(`${shared.prefix}blobs/`)).toHaveLength(1);
    // The paused client reads on to the end: the whole blob.
    await new Promise<void>((resolve) => {
      response.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
      });
      response.on('end', resolve);
      response.resume();
    });
    expect(`sha256:${hash.digest('hex')}`).toBe(layer.digest);
    expect(length).toBe(layer.bytes.length);
    const after = await waitForGc(gc);
    expect(after.gc.unreferenced.blobs).toBe(1);
    expect(await keysUnder(`${shared.prefix}blobs/`)).toHaveLength(0);
  }, 60_000);

  it('one replica at a time runs the scheduled eviction and GC; when it dies another takes over', async () => {
    const config = replicaConfig(hub.registryUrl, shared, { upstream: hub.trusted, cache: { gcEveryMinutes: 0.005 } });
    const a = await startReplica('lead-a', config);
    const b = await startReplica('lead-b', config);
    replicas.push(a, b);
    const leads = (r: Replica) => r.logs().some((l) => l.msg === 'this replica runs scheduled eviction and GC now');
    await waitFor(() => leads(a) || leads(b), 10_000, 'a leader');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // several GC periods
    expect([leads(a), leads(b)].filter(Boolean)).toHaveLength(1);
    const [leader, other] = leads(a) ? [a, b] : [b, a];
    await leader.kill();
    // Its lease runs out (2 s) and the other runs maintenance from then on.
    await waitFor(() => leads(other), 10_000, 'the other replica to take over');
  }, 30_000);

  /** GC until b's read lease is gone (it is released as the response ends). */
  async function waitForGc<T extends { gc: { unreferenced: { blobs: number } } }>(gc: () => Promise<T>): Promise<T> {
    for (let i = 0; i < 20; i++) {
      const report = await gc();
      if (report.gc.unreferenced.blobs > 0) return report;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error('GC never removed the blob');
  }

  async function keysUnder(prefix: string): Promise<string[]> {
    const page = await bucket.client.send(new ListObjectsV2Command({ Bucket: bucket.name, Prefix: prefix }));
    return (page.Contents ?? []).map((o) => o.Key as string);
  }
});
