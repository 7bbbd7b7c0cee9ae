import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError } from '../errors/storage-error.js';
import { isNotFound, isPreconditionFailed, s3Op } from './s3-client.js';

/** The largest object one CopyObject may copy (S3's limit); larger ones are copied in parts. */
const COPY_LIMIT = 5 * 1024 ** 3;
const COPY_PART = 1024 ** 3;

/**
 * Puts a completed temp object at the digest key, atomically (a copy is whole or absent, so a
 * killed process never leaves half a blob there). A key that exists already holds the same
 * verified bytes: it is kept. The copy asks If-None-Match: * so that racing replicas keep the
 * first; a store that ignores the condition on copies (Ceph 16 does) replaces it with the
 * same bytes, which no reader can tell.
 */
export async function publishCopy(client: S3Client, bucket: string, from: string, to: string, size: number): Promise<void> {
  if (await exists(client, bucket, to)) return;
  const source = `${bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
  if (size <= COPY_LIMIT) {
    await s3Op('copy blob', async () => {
      try {
        await client.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: source, IfNoneMatch: '*' }));
      } catch (err) {
        if (!isPreconditionFailed(err)) throw err;
      }
    });
    return;
  }
  await copyInParts(client, bucket, source, to, size);
}

async function exists(client: S3Client, bucket: string, key: string): Promise<boolean> {
  return s3Op('stat blob', async () => {
    try {
      await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  });
}

/** A copy past COPY_LIMIT: a multipart upload at the digest key whose parts are copied server-side. */
async function copyInParts(client: S3Client, bucket: string, source: string, to: string, size: number): Promise<void> {
  const { UploadId } = await s3Op('copy blob', () => client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: to })));
  if (!UploadId) throw new StorageError('copy blob', Object.assign(new Error('no upload id'), { code: 'S3_NoUploadId' }));
  try {
    const parts: Array<{ PartNumber: number; ETag: string }> = [];
    for (let from = 0, n = 1; from < size; from += COPY_PART, n++) {
      const last = Math.min(size, from + COPY_PART) - 1;
      const { CopyPartResult } = await s3Op('copy blob', () =>
        client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: to,
            UploadId,
            PartNumber: n,
            CopySource: source,
            CopySourceRange: `bytes=${from}-${last}`,
          }),
        ),
      );
      parts.push({ PartNumber: n, ETag: CopyPartResult?.ETag ?? '' });
    }
    await s3Op('copy blob', () =>
      client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId, MultipartUpload: { Parts: parts } })),
    );
  } catch (err) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId })).catch(() => undefined);
    throw err;
  }
}
