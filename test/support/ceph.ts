import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { createS3Client, type S3Options } from '../../src/storage/s3-client.js';

/**
 * A one-node Ceph cluster (mon, memstore OSD, RADOS gateway) on loopback, started once per
 * test run, by the first test file that needs it, whichever worker that is (a lock directory
 * in the run's directory, made by test/support/ceph-global.ts, which also stops the daemons
 * by their PIDs when the run ends, whatever happened). Every port is picked free, so a run
 * never meets another Ceph on the machine. Each suite makes its own bucket.
 */

declare module 'vitest' {
  export interface ProvidedContext {
    cephRunDir: string;
  }
}

export interface Ceph {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

const SCRIPTS = fileURLToPath(new URL('./ceph/', import.meta.url));
const DAEMONS = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph-authtool', 'monmaptool', 'radosgw-admin', 'ceph'];
const CREDENTIALS = { accessKeyId: 'CIACCESSKEY000000000', secretAccessKey: 'cisecretkey0000000000000000000000000000' };
const START_WITHIN_MS = 120_000;

/** Whether this machine can run the S3 suites; with CI=true a missing Ceph is a failure, not a skip. */
export function cephInstalled(): boolean {
  const missing = DAEMONS.filter((bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status !== 0);
  if (missing.length === 0) return true;
  const message = `Ceph is not installed (missing ${missing.join(', ')}): apt-get install ceph-mon ceph-osd radosgw ceph-common`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`${message}; skipping the S3 suites`);
  return false;
}

let started: Promise<Ceph> | undefined;

/** The run's Ceph, started on first use. */
export function useCeph(): Promise<Ceph> {
  return (started ??= startOnce(inject('cephRunDir')));
}

async function startOnce(runDir: string): Promise<Ceph> {
  const ready = join(runDir, 'ready.json');
  const failed = join(runDir, 'failed');
  let mine = false;
  try {
    mkdirSync(join(runDir, 'lock'));
    mine = true;
  } catch {
    // another worker starts it
  }
  if (mine) {
    try {
      const ceph = await start(join(runDir, 'cluster'));
      writeFileSync(ready, JSON.stringify(ceph));
    } catch (err) {
      writeFileSync(failed, (err as Error).message);
      throw err;
    }
  }
  const deadline = Date.now() + START_WITHIN_MS;
  for (;;) {
    if (existsSync(ready)) return JSON.parse(readFileSync(ready, 'utf8')) as Ceph;
    if (existsSync(failed)) throw new Error(`Ceph failed to start: ${readFileSync(failed, 'utf8')}`);
    if (Date.now() > deadline) throw new Error('Ceph did not start in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function start(dir: string): Promise<Ceph> {
  const [monPort, monV1Port, rgwPort] = await freePorts(3);
  const bindMin = await freeRange(64);
  const env = {
    ...process.env,
    MON_PORT: String(monPort),
    MON_V1_PORT: String(monV1Port),
    RGW_PORT: String(rgwPort),
    BIND_PORT_MIN: String(bindMin),
    BIND_PORT_MAX: String(bindMin + 63),
  };
  const began = Date.now();
  try {
    await promisify(execFile)('bash', [join(SCRIPTS, 'start.sh'), dir, 'memstore'], { env, timeout: START_WITHIN_MS });
  } catch (err) {
    const { stderr } = err as { stderr?: string };
    throw new Error(`start.sh failed: ${(stderr ?? (err as Error).message).trim().split('\n').slice(-5).join(' | ')}`);
  }
  // What Ceph adds to a run (.ci/run's log shows it).
  console.info(`Ceph (mon, memstore OSD, radosgw) started in ${Date.now() - began} ms`);
  return { endpoint: `http://127.0.0.1:${rgwPort}`, region: 'us-east-1', credentials: CREDENTIALS };
}

/** Stops the daemons of a run's cluster by the PIDs they wrote (ceph-global.ts's teardown). */
/** A Ceph of its own in runDir (the bench, outside vitest): started now, stopped with stopCeph(runDir). */
export function startCephIn(runDir: string): Promise<Ceph> {
  return start(join(runDir, 'cluster'));
}

export function stopCeph(runDir: string): void {
  const dir = join(runDir, 'cluster');
  if (!existsSync(dir)) return;
  spawnSync('bash', [join(SCRIPTS, 'stop.sh'), dir], { env: { ...process.env, FAST: '1' }, stdio: 'ignore' });
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The first port of `size` free ones in a row, below the ephemeral range (the OSD binds in it). */
async function freeRange(size: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 120) * 100;
    let free = true;
    for (let port = base; port < base + size && free; port++) free = await portFree(port);
    if (free) return base;
  }
  throw new Error('no free port range for the OSD');
}

/** S3 options for this Ceph and a bucket, as the config would give them. */
export function s3Options(ceph: Ceph, bucket: string, prefix = ''): S3Options {
  return { endpoint: ceph.endpoint, bucket, region: ceph.region, prefix, forcePathStyle: true, credentials: ceph.credentials };
}

/** A bucket of its own for a suite; remove() empties and deletes it. */
export async function makeBucket(ceph: Ceph, label: string): Promise<{ name: string; client: S3Client; remove: () => Promise<void> }> {
  const name = `cargohold-${label}-${randomBytes(4).toString('hex')}`;
  const client = createS3Client(s3Options(ceph, name));
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return {
    name,
    client,
    remove: async () => {
      await emptyBucket(client, name);
      await client.send(new DeleteBucketCommand({ Bucket: name }));
      client.destroy();
    },
  };
}

/** Deletes every object and aborts every upload under a prefix. */
export async function emptyBucket(client: S3Client, bucket: string, prefix = ''): Promise<void> {
  for (;;) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length === 0) break;
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys } }));
  }
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  for (const u of uploads.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
}
