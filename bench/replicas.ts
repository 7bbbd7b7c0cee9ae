import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { makeBucket, startCephIn, stopCeph } from '../test/support/ceph.js';
import { startPostgres } from '../test/support/postgres.js';
import { CLUSTER_SECRET, replicaConfig, startReplica, stopReplicas, type Replica } from '../test/support/replicas.js';
import { run } from '../test/support/peers.js';
import { coldServer } from './cold.js';
import { logMark, upstreamBlobGets, waitLogQuiet } from './measure.js';
import type { Results } from './results.js';
import { blobUrl, type World } from './world.js';

const CLIENTS = 20;
const REPLICAS = 3;

/** curl GETs of these URLs at once, each checked for a 200 and the whole blob: the wall time (ms). */
async function downloads(urls: string[], size: number): Promise<number> {
  const started = performance.now();
  const results = await Promise.all(
    urls.map((url) =>
      run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--max-time', '300', url], { timeoutMs: 330_000 }),
    ),
  );
  const wallMs = performance.now() - started;
  for (const { stdout } of results)
    if (stdout.trim() !== `200 ${size}`) throw new Error(`a download ended with "${stdout.trim()}", expected "200 ${size}"`);
  return wallMs;
}

/** 20 cold clients on these servers (client i on servers[i % n]): wall seconds, and the blob GETs and bytes the upstream's access log shows once it is quiet. */
async function coldClients(log: string, servers: string[], blob: World['big']): Promise<{ seconds: number; count: number; bytes: number }> {
  const mark = logMark(log);
  const urls = Array.from({ length: CLIENTS }, (_, c) => blobUrl(servers[c % servers.length] as string, blob));
  const seconds = (await downloads(urls, blob.size)) / 1000;
  await waitLogQuiet(log, 1500);
  return { seconds, ...upstreamBlobGets(log, mark) };
}

/** One curl GET: bytes per second by curl's clock. */
async function speed(url: string, size: number): Promise<number> {
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{speed_download}', url], {
    timeoutMs: 330_000,
  });
  const [status, got, bps] = stdout.trim().split(' ').map(Number);
  if (status !== 200 || got !== size) throw new Error(`GET ${url.slice(0, 60)}: ${stdout.trim()}`);
  return bps as number;
}

/**
 * Scenario 8: 20 cold clients on the big blob, spread over 3 replicas sharing PostgreSQL and a
 * Ceph RADOS gateway bucket (the compiled build, npm start's flags, the shared secret), against one
 * cargohold on the embedded stack (SQLite, local disk) in the same run: wall time and the bytes
 * the upstream sent. Then warm from S3: the same 20 clients again (aggregate GB/s), and one client
 * through a replica against a presigned GET straight from the gateway.
 */
export async function replicasScenario(world: World, results: Results): Promise<void> {
  const out = results.replicas;
  const log = world.upstream.distribution.logFile;
  const cephDir = world.ws.dir('ceph');
  const ceph = await startCephIn(cephDir);
  world.ws.defer(() => Promise.resolve(stopCeph(cephDir)));
  const postgres = await startPostgres();
  world.ws.defer(() => postgres.stop());
  const bucket = await makeBucket(ceph, 'bench');
  world.ws.defer(() => bucket.remove());
  const big = world.big;
  const size = big.size;
  for (let i = 0; i < world.runs; i++) {
    // Embedded: one fresh cargohold, SQLite and local disk.
    {
      const server = await coldServer(world, 'cargohold');
      try {
        const cold = await coldClients(log, [server.url], big);
        out.embedded20.push(cold.seconds);
        out.embeddedBytes.push(cold.bytes);
        out.embeddedWarm1.push(await speed(blobUrl(server.url, big), size));
      } finally {
        await server.stop();
      }
    }
    // Replicas: a new database and prefix each run, so every run starts cold.
    const configFor = async (prefix: string) =>
      replicaConfig(
        world.upstream.url,
        { postgresUrl: await postgres.createDatabase(), ceph, bucket: bucket.name, prefix, secret: CLUSTER_SECRET },
        { logLevel: 'warn', upstream: { tagTtlSeconds: 300 } },
      );
    // One replica on the same backends: what PostgreSQL and S3 cost, apart from coordinating replicas.
    {
      const one = await startReplica('bench-single', await configFor(`single${i}/`), { built: true });
      try {
        const cold = await coldClients(log, [one.url], big);
        out.single20.push(cold.seconds);
        out.singleBytes.push(cold.bytes);
      } finally {
        await stopReplicas([one]);
      }
    }
    const config = await configFor(`run${i}/`);
    const replicas: Replica[] = [];
    try {
      for (let r = 0; r < REPLICAS; r++) replicas.push(await startReplica(`bench-r${r}`, config, { built: true }));
      const cold = await coldClients(
        log,
        replicas.map((r) => r.url),
        big,
      );
      out.replicas20.push(cold.seconds);
      out.replicasBytes.push(cold.bytes);
      out.replicasGets.push(cold.count);
      const spread = Array.from({ length: CLIENTS }, (_, c) => blobUrl((replicas[c % REPLICAS] as Replica).url, big));
      // Warm, from the bucket.
      const warmMs = await downloads(spread, size);
      out.warm20.push((CLIENTS * size) / (warmMs / 1000) / 1e9);
      out.warm1.push(await speed(blobUrl((replicas[0] as Replica).url, big), size));
      const key = `run${i}/blobs/sha256/${big.digest.slice(7, 9)}/${big.digest.slice(7)}`;
      const direct = await getSignedUrl(bucket.client, new GetObjectCommand({ Bucket: bucket.name, Key: key }), { expiresIn: 600 });
      out.s3Direct1.push(await speed(direct, size));
    } finally {
      await stopReplicas(replicas);
      for (const r of replicas) rmSync(join(r.dataDir), { recursive: true, force: true });
    }
  }
}
