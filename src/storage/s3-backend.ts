import { randomBytes } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { storageOp } from '../errors/storage-error.js';
import type { Digest } from '../oci/digest.js';
import type { BlobBackend, BlobInfo, BlobWriter, StoredBlob } from '../ports/blob-backend.js';
import { FsBlobBackend } from './fs-backend.js';
import type { StoragePaths } from './paths.js';
import { s3Body } from './s3-body.js';
import { createS3Client, isNotFound, s3Op, type S3Options } from './s3-client.js';
import { S3Keys } from './s3-keys.js';
import { sweepS3Temps } from './s3-sweep.js';
import { S3BlobWriter } from './s3-writer.js';

export interface S3BackendOptions extends S3Options {
  /** Bytes per uploaded part (S3's minimum is 5 MiB). */
  partSizeBytes: number;
  /** Blob GETs answer with a presigned URL valid this long; undefined: cargohold serves the bytes. */
  redirectExpirySeconds?: number | undefined;
  /**
   * Uploads and temp objects of other instances are aborted only once untouched this long,
   * whatever sweepTemps is asked: replicas share the bucket but not the data dir's lease,
   * so "no other instance fills now" is never true of the bucket.
   */
  sharedTempMinAgeMs: number;
}

/**
 * The blob port on an S3-compatible object store (AWS S3, Ceph's RADOS gateway, MinIO):
 * blobs at <prefix>blobs/<alg>/<ab>/<hex>, written through a local spool file in the data
 * dir's tmp/ (read back by the fill's readers) and a multipart upload at
 * <prefix>tmp/<instance>.<hex16>.<n>, published to the digest key on commit by a
 * conditional put or copy. Bodies are ranged GETs.
 */
export class S3BlobBackend implements BlobBackend {
  readonly instance: string;
  readonly client: S3Client;
  readonly keys: S3Keys;
  readonly #options: S3BackendOptions;
  /** Spool files: the local half of a writer, swept as the filesystem's temp files are. */
  readonly #spool: FsBlobBackend;
  #sequence = 0;

  constructor(options: S3BackendOptions, paths: StoragePaths, instance: string = randomBytes(6).toString('hex'), client?: S3Client) {
    this.#options = options;
    this.instance = instance;
    this.client = client ?? createS3Client(options);
    this.keys = new S3Keys(options.prefix);
    this.#spool = new FsBlobBackend(paths, instance);
  }

  get bucket(): string {
    return this.#options.bucket;
  }

  /** Creates the spool directory and checks that the bucket answers (a wrong name or key fails the start, not the first fill). */
  async init(): Promise<void> {
    await storageOp(`creating ${this.#spool.paths.tmpDir}`, () => mkdir(this.#spool.paths.tmpDir, { recursive: true }));
    await s3Op(`opening bucket ${this.bucket}`, () => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
  }

  /** The bucket answers (readiness): one HEAD of the bucket. */
  async probe(): Promise<void> {
    await s3Op(`reaching bucket ${this.bucket}`, () => this.client.send(new HeadBucketCommand({ Bucket: this.bucket })));
  }

  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    return s3Op('stat blob', async () => {
      try {
        const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.keys.blob(digest) }));
        return { size: head.ContentLength ?? 0 };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    });
  }

  async open(digest: Digest): Promise<StoredBlob | undefined> {
    const info = await this.stat(digest);
    if (!info) return undefined;
    const key = this.keys.blob(digest);
    const get = (start: number, end: number, signal: AbortSignal) =>
      s3Op('read blob', async () => {
        const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end}` }), {
          abortSignal: signal,
        });
        return Body as Readable;
      });
    const expiry = this.#options.redirectExpirySeconds;
    return {
      size: info.size,
      body: (start, end) => s3Body(get, start, end),
      // Nothing is held until a body is consumed.
      close: async () => undefined,
      ...(expiry === undefined
        ? {}
        : {
            redirect: () =>
              s3Op('presign blob URL', () =>
                getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn: expiry }),
              ),
          }),
    };
  }

  async writer(digest: Digest): Promise<BlobWriter> {
    const spool = this.#spool.paths.temp(digest, this.instance, ++this.#sequence);
    const fd = await storageOp('create spool file', async () => {
      await mkdir(this.#spool.paths.tmpDir, { recursive: true });
      return open(spool, 'w+', 0o644);
    });
    return new S3BlobWriter(fd, spool, {
      client: this.client,
      bucket: this.bucket,
      blobKey: this.keys.blob(digest),
      tempKey: this.keys.temp(basename(spool)),
      partSize: this.#options.partSizeBytes,
    });
  }

  async delete(digest: Digest): Promise<boolean> {
    // S3 deletes answer the same whether or not the key existed: the HEAD tells.
    if (!(await this.stat(digest))) return false;
    await s3Op('delete blob', () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keys.blob(digest) })));
    return true;
  }

  async *list(): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      const page = await s3Op('list blobs', () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.keys.blobsPrefix, ContinuationToken: token })),
      );
      for (const object of page.Contents ?? []) {
        const digest = object.Key === undefined ? undefined : this.keys.digestOf(object.Key);
        if (digest) yield { digest: digest.value, size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async sweepTemps(olderThanMs: number): Promise<number> {
    const removed = new Set<string>();
    // The spool's files and the upload of one writer share a name: one writer counts once.
    for (const name of await this.#spool.sweepTempNames(olderThanMs)) removed.add(name);
    const remote = await sweepS3Temps({
      client: this.client,
      bucket: this.bucket,
      keys: this.keys,
      instance: this.instance,
      olderThanMs: Math.max(olderThanMs, this.#options.sharedTempMinAgeMs),
    });
    for (const name of remote) removed.add(name);
    return removed.size;
  }

  /** Closes the client's sockets. */
  close(): void {
    this.client.destroy();
  }
}
