import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { StorageError } from '../errors/storage-error.js';

/** Where and how to reach the bucket (config `storage.s3`). */
export interface S3Options {
  /** An S3-compatible endpoint (http://127.0.0.1:7480); undefined: AWS's, from the region. */
  endpoint?: string | undefined;
  bucket: string;
  region: string;
  prefix: string;
  forcePathStyle: boolean;
  /** Undefined: the SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined } | undefined;
}

/** Sockets per client: every blob body being served holds one while it streams. */
const MAX_SOCKETS = 256;

export function createS3Client(options: S3Options): S3Client {
  // The SDK's versions are pinned (package.json), so its notice that later releases need Node 22 says nothing to an operator.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    // A copy: the SDK marks the object it is given ($source), and the config's is frozen.
    ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
    // Checksums only where S3 requires them: streamed bodies with trailing checksums (aws-chunked) are
    // refused by Ceph's RADOS gateway (411), and the digest of every blob is verified by the fill anyway.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: MAX_SOCKETS }),
      connectionTimeout: 5000,
    },
  });
}

interface S3Failure {
  name?: string;
  Code?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

export function httpStatusOf(err: unknown): number | undefined {
  return (err as S3Failure | null)?.$metadata?.httpStatusCode;
}

/** No such key (or upload): a 404 of any S3 operation. */
export function isNotFound(err: unknown): boolean {
  const name = (err as S3Failure | null)?.name;
  return httpStatusOf(err) === 404 || name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchUpload';
}

/** A conditional write refused because the key exists (If-None-Match: *). */
export function isPreconditionFailed(err: unknown): boolean {
  return httpStatusOf(err) === 412 || (err as S3Failure | null)?.name === 'PreconditionFailed';
}

/** What an S3 call threw, as a StorageError naming the operation (the S3 error name is its code: S3_AccessDenied). */
export function s3Error(operation: string, err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  const failure = err as S3Failure | null;
  // Network errors keep their system code (ECONNREFUSED); S3's answers are named by S3.
  const code = typeof failure?.code === 'string' ? failure.code : `S3_${failure?.Code ?? failure?.name ?? 'Error'}`;
  // A fresh error, not the SDK's: that one carries the raw response (request headers included) into every log line.
  const status = httpStatusOf(err);
  const message = `${err instanceof Error ? err.message : String(err)}${status === undefined ? '' : ` (HTTP ${status})`}`;
  return new StorageError(operation, Object.assign(new Error(message), { code }));
}

/** Runs an S3 call, turning what it throws into a StorageError naming the operation. */
export async function s3Op<T>(operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw s3Error(operation, err);
  }
}
