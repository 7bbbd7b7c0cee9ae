/**
 * A process that starts writing a blob to S3 and never finishes (test/integration/s3-backend.test.ts
 * kills it): argv[2] is a JSON { options, dataDir, instance, bytes }; it writes that many bytes and
 * then waits, printing "written" once its writes returned.
 */
import { parseDigest } from '../../src/oci/digest.js';
import { S3BlobBackend, type S3BackendOptions } from '../../src/storage/s3-backend.js';
import { StoragePaths } from '../../src/storage/paths.js';

const { options, dataDir, instance, bytes, digest } = JSON.parse(process.argv[2] ?? '{}') as {
  options: S3BackendOptions;
  dataDir: string;
  instance: string;
  bytes: number;
  digest: string;
};
const backend = new S3BlobBackend(options, new StoragePaths(dataDir), instance);
await backend.init();
const writer = await backend.writer(parseDigest(digest));
const chunk = Buffer.alloc(256 * 1024, 7);
for (let at = 0; at < bytes; at += chunk.length) await writer.write([chunk.subarray(0, Math.min(chunk.length, bytes - at))]);
process.stdout.write('written\n');
setInterval(() => undefined, 60_000);
