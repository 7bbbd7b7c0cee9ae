import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { s3Op } from './s3-client.js';
import type { S3Keys } from './s3-keys.js';
import { StoragePaths } from './paths.js';

export interface S3SweepOptions {
  client: S3Client;
  bucket: string;
  keys: S3Keys;
  /** Our own instance: its uploads are live (its writers abort their own). */
  instance: string;
  olderThanMs: number;
}

/**
 * Removes what killed writers left in the bucket: multipart uploads under tmp/ (and the rare
 * multipart copy of a blob past 5 GiB under blobs/, which names no instance) untouched for
 * olderThanMs, their last part counting as a touch, and temp objects a commit completed but
 * did not publish. The names of the temp keys removed.
 */
export async function sweepS3Temps(opts: S3SweepOptions): Promise<string[]> {
  const removed: string[] = [];
  const now = Date.now();
  const stale = (at: Date | undefined) => at !== undefined && now - at.getTime() >= opts.olderThanMs;
  const ours = (name: string) => StoragePaths.tempInstance(name) === opts.instance;
  const { client, bucket, keys } = opts;

  for (const prefix of [keys.tempPrefix, keys.blobsPrefix]) {
    for await (const upload of uploads(client, bucket, prefix)) {
      const name = keys.tempName(upload.key);
      if (prefix === keys.tempPrefix && (name === undefined || ours(name))) continue;
      if (!stale(upload.initiated) || !stale(await lastTouched(client, bucket, upload.key, upload.id, upload.initiated))) continue;
      const aborted = await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.key, UploadId: upload.id })).then(
        () => true,
        () => false,
      );
      if (aborted) removed.push(name ?? upload.key);
    }
  }

  let token: string | undefined;
  do {
    const page = await s3Op('list temp objects', () =>
      client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: keys.tempPrefix, ContinuationToken: token })),
    );
    for (const object of page.Contents ?? []) {
      const name = object.Key === undefined ? undefined : keys.tempName(object.Key);
      if (name === undefined || ours(name) || !stale(object.LastModified)) continue;
      const deleted = await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: object.Key })).then(
        () => true,
        () => false,
      );
      if (deleted) removed.push(name);
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return removed;
}

async function* uploads(client: S3Client, bucket: string, prefix: string): AsyncIterable<{ key: string; id: string; initiated: Date | undefined }> {
  let keyMarker: string | undefined;
  let idMarker: string | undefined;
  for (;;) {
    const page = await s3Op('list uploads', () =>
      client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker })),
    );
    for (const upload of page.Uploads ?? []) {
      if (upload.Key !== undefined && upload.UploadId !== undefined) yield { key: upload.Key, id: upload.UploadId, initiated: upload.Initiated };
    }
    if (!page.IsTruncated) return;
    keyMarker = page.NextKeyMarker;
    idMarker = page.NextUploadIdMarker;
  }
}

/** When an upload was last written to: its newest part, else when it started. */
async function lastTouched(client: S3Client, bucket: string, key: string, uploadId: string, initiated: Date | undefined): Promise<Date | undefined> {
  let latest = initiated;
  let marker: string | undefined;
  for (;;) {
    const page = await s3Op('list parts', () =>
      client.send(new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker })),
    ).catch(() => undefined);
    if (!page) return latest;
    for (const part of page.Parts ?? []) if (part.LastModified && (!latest || part.LastModified > latest)) latest = part.LastModified;
    if (!page.IsTruncated) return latest;
    marker = page.NextPartNumberMarker;
  }
}
