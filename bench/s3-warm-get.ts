/**
 * Warm blob GET throughput of one 200 MiB blob stored on S3: through cargohold (the built CLI,
 * `npm start`'s flags, its own process) and straight from the S3 server (a presigned GET), both
 * with curl on loopback, body to /dev/null, the median of RUNS.
 *
 *   S3_ENDPOINT=http://127.0.0.1:7480 npm run build && node --import tsx bench/s3-warm-get.ts
 *
 * Credentials: the CI Ceph user of test/support/ceph/start.sh unless AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are set.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createS3Client } from '../src/storage/s3-client.js';
import { image, randomLayer } from '../test/fixtures/images.js';
import { startCli } from '../test/support/cli-process.js';
import { FakeHub } from '../test/support/fake-hub.js';
import { emptyBucket } from '../test/support/ceph.js';

const RUNS = 5;
const run = promisify(execFile);
const endpoint = process.env.S3_ENDPOINT ?? 'http://127.0.0.1:7480';
const credentials = {
  accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? 'CIACCESSKEY000000000',
  secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? 'cisecretkey0000000000000000000000000000',
};
const bucket = `cargohold-bench-${Date.now()}`;
const s3 = { endpoint, bucket, region: 'us-east-1', prefix: '', forcePathStyle: true, credentials };
const client = createS3Client(s3);
await client.send(new CreateBucketCommand({ Bucket: bucket }));
const dir = mkdtempSync(join(tmpdir(), 'cargohold-bench-s3-'));
const hub = await FakeHub.start();
const layer = randomLayer(200 * 1024 * 1024);
hub.push('library/big', 'latest', image([layer]));
const config = join(dir, 'config.json');
writeFileSync(config, JSON.stringify({ upstream: { tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl] }, storage: { s3 } }));
const cli = startCli(
  ['serve', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data'), '--upstream', hub.registryUrl, '--config', config],
  {},
  { built: true },
);
try {
  const port = await cli.port();
  const viaMirror = `http://127.0.0.1:${port}/v2/library/big/blobs/${layer.digest}`;
  await curl(viaMirror); // the fill (the fake hub answers from this process: nothing here may block)
  for (let i = 0; i < 100 && !/hit/.test((await run('curl', ['-sI', viaMirror])).stdout); i++) await new Promise((r) => setTimeout(r, 100));
  const direct = await getSignedUrl(
    client,
    new GetObjectCommand({ Bucket: bucket, Key: `blobs/sha256/${layer.digest.slice(7, 9)}/${layer.digest.slice(7)}` }),
    { expiresIn: 600 },
  );
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const through: number[] = [];
  const straight: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    through.push(await curl(viaMirror));
    straight.push(await curl(direct));
  }
  console.log(
    `200 MiB warm GET, median of ${RUNS}: cargohold ${median(through).toFixed(0)} MiB/s, radosgw direct ${median(straight).toFixed(0)} MiB/s (runs: ${through.map((x) => x.toFixed(0)).join(' ')} | ${straight.map((x) => x.toFixed(0)).join(' ')})`,
  );
} finally {
  cli.child.kill('SIGTERM');
  await cli.exited;
  await hub.close();
  await emptyBucket(client, bucket);
  client.destroy();
  rmSync(dir, { recursive: true, force: true });
}

/** One GET with curl: MiB/s; fails unless the whole blob arrived. */
async function curl(url: string): Promise<number> {
  const { stdout } = await run('curl', ['-sSf', '-o', '/dev/null', '-w', '%{size_download} %{speed_download}', url]).catch((err: Error) => {
    throw new Error(`GET ${url.slice(0, 80)}: ${err.message}`);
  });
  const [size, speed] = stdout.split(' ').map(Number);
  if (size !== layer.bytes.length) throw new Error(`got ${size} of ${layer.bytes.length} bytes`);
  return speed! / 1024 / 1024;
}
