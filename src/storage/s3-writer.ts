import { unlink, type FileHandle } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StorageError, storageOp } from '../errors/storage-error.js';
import type { BlobWriter } from '../ports/blob-backend.js';
import { writeAll } from './fs-backend.js';
import { isNotFound, isPreconditionFailed, s3Error, s3Op } from './s3-client.js';
import { publishCopy } from './s3-publish.js';

/** What a writer needs of its backend. */
export interface S3WriterTarget {
  client: S3Client;
  bucket: string;
  /** The digest's key: written only on commit. */
  blobKey: string;
  /** The multipart upload's key, named for this instance like the spool file. */
  tempKey: string;
  partSize: number;
}

/** Part uploads in flight per writer: enough to keep a fast link busy, each holds one part in memory. */
const PARTS_IN_FLIGHT = 2;

/**
 * One blob being written to S3. The bytes go to a local spool file first (the fill's readers
 * read back from it: S3 cannot read an upload in progress) and each full part is uploaded from
 * it in the background, so the upload streams while the fill hashes and a fill is never slowed
 * by S3 (a part upload that fails fails the next write, and the fill goes on without a writer).
 * The multipart upload starts with the first full part: a small blob costs one conditional
 * PutObject at commit. Nothing reaches the digest key before commit, which the caller calls
 * once the digest verified.
 */
export class S3BlobWriter implements BlobWriter {
  readonly #fd: FileHandle;
  readonly #spool: string;
  readonly #target: S3WriterTarget;
  readonly #abort = new AbortController();
  #offset = 0;
  /** Bytes covered by part uploads started so far (whole parts). */
  #started = 0;
  #upload: Promise<string> | undefined;
  readonly #parts: Array<{ PartNumber: number; ETag: string }> = [];
  readonly #inflight = new Set<Promise<void>>();
  #failure: StorageError | undefined;
  /** The temp object exists (the upload completed into it): cancel deletes it. */
  #completed = false;
  #state: 'writing' | 'committed' | 'cancelled' | 'closed' = 'writing';

  constructor(fd: FileHandle, spool: string, target: S3WriterTarget) {
    this.#fd = fd;
    this.#spool = spool;
    this.#target = target;
  }

  async write(chunks: readonly Buffer[]): Promise<void> {
    if (this.#state !== 'writing') throw new Error(`write after ${this.#state}`);
    if (this.#failure) throw this.#failure;
    const length = chunks.reduce((n, c) => n + c.length, 0);
    await storageOp('write spool file', () => writeAll(this.#fd, chunks, this.#offset));
    this.#offset += length;
    this.#kick();
  }

  async read(buffer: Buffer, length: number, position: number): Promise<number> {
    const wanted = Math.min(length, this.#offset - position);
    if (wanted <= 0) return 0;
    return storageOp('read spool file', async () => (await this.#fd.read(buffer, 0, wanted, position)).bytesRead);
  }

  async commit(): Promise<void> {
    if (this.#state !== 'writing') throw new Error(`commit after ${this.#state}`);
    await this.#settle();
    if (this.#failure) throw this.#failure;
    const { client, bucket, blobKey, tempKey } = this.#target;
    if (this.#upload === undefined) {
      // Smaller than a part: one conditional put. A key that exists holds the same verified bytes (another
      // writer's, maybe another replica's): If-None-Match makes the race safe, and keeps the stored object.
      const body = await this.#readSpool(0, this.#offset);
      await s3Op('put blob', async () => {
        try {
          await client.send(new PutObjectCommand({ Bucket: bucket, Key: blobKey, Body: body, ContentLength: body.length, IfNoneMatch: '*' }));
        } catch (err) {
          if (!isPreconditionFailed(err)) throw err;
        }
      });
    } else {
      if (this.#offset > this.#started) await this.#uploadPart(this.#started, this.#offset - this.#started);
      const uploadId = await this.#upload;
      const parts = [...this.#parts].sort((a, b) => a.PartNumber - b.PartNumber);
      // Ceph's RADOS gateway answers an empty ETag here: not an error, nothing reads it.
      await s3Op('complete upload', () =>
        client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: tempKey, UploadId: uploadId, MultipartUpload: { Parts: parts } })),
      );
      this.#completed = true;
      await publishCopy(client, bucket, tempKey, blobKey, this.#offset);
      await this.#deleteTemp();
    }
    this.#state = 'committed';
  }

  async cancel(): Promise<void> {
    if (this.#state !== 'writing') return;
    this.#state = 'cancelled';
    this.#abort.abort();
    await this.#settle();
    const uploadId = await this.#upload?.catch(() => undefined);
    const { client, bucket, tempKey } = this.#target;
    // Best effort: an upload or temp object left behind is swept later (sweepTemps), never visible as a blob.
    if (uploadId !== undefined && !this.#completed) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: tempKey, UploadId: uploadId })).catch(() => undefined);
    }
    if (this.#completed) await this.#deleteTemp();
    await unlink(this.#spool).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    if (this.#state === 'writing') await this.cancel();
    this.#state = 'closed';
    await this.#fd.close().catch(() => undefined);
    // After commit the spool was kept for readers; nobody reads a closed writer.
    await unlink(this.#spool).catch(() => undefined);
  }

  /** Starts uploads of the whole parts written, up to PARTS_IN_FLIGHT at a time. */
  #kick(): void {
    const { partSize } = this.#target;
    while (this.#failure === undefined && this.#inflight.size < PARTS_IN_FLIGHT && this.#offset - this.#started >= partSize) {
      const from = this.#started;
      this.#started += partSize;
      const upload: Promise<void> = this.#uploadPart(from, partSize)
        .catch((err: unknown) => {
          this.#failure ??= s3Error('upload part', err);
        })
        .finally(() => {
          this.#inflight.delete(upload);
          if (this.#state === 'writing') this.#kick();
        });
      this.#inflight.add(upload);
    }
  }

  /** Waits until no part upload is in flight (each one done may start the next). */
  async #settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
  }

  async #uploadPart(from: number, length: number): Promise<void> {
    const { client, bucket, tempKey, partSize } = this.#target;
    const uploadId = await (this.#upload ??= this.#create());
    const body = await this.#readSpool(from, length);
    const partNumber = Math.floor(from / partSize) + 1;
    const { ETag } = await s3Op('upload part', () =>
      client.send(
        new UploadPartCommand({ Bucket: bucket, Key: tempKey, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
        { abortSignal: this.#abort.signal },
      ),
    );
    if (!ETag) throw new StorageError('upload part', Object.assign(new Error('no ETag for an uploaded part'), { code: 'S3_NoETag' }));
    this.#parts.push({ PartNumber: partNumber, ETag });
  }

  async #create(): Promise<string> {
    const { client, bucket, tempKey } = this.#target;
    // Not aborted by cancel: an aborted request may still create the upload on the server, and
    // then nobody would know its id to abort it. cancel waits for the id and aborts the upload.
    const { UploadId } = await s3Op('create upload', () =>
      client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: tempKey, ContentType: 'application/octet-stream' })),
    );
    if (!UploadId) throw new StorageError('create upload', Object.assign(new Error('no upload id'), { code: 'S3_NoUploadId' }));
    return UploadId;
  }

  /** Bytes [from, from + length) of the spool, in memory (a part body can be sent again on a retry, a stream cannot). */
  async #readSpool(from: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await storageOp('read spool file', () => this.#fd.read(buffer, done, length - done, from + done));
      if (bytesRead === 0) throw new StorageError('read spool file', Object.assign(new Error('spool file shorter than written'), { code: 'EIO' }));
      done += bytesRead;
    }
    return buffer;
  }

  async #deleteTemp(): Promise<void> {
    const { client, bucket, tempKey } = this.#target;
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: tempKey })).then(
      () => {
        this.#completed = false;
      },
      (err: unknown) => {
        // Left for sweepTemps; it is never visible as a blob.
        if (isNotFound(err)) this.#completed = false;
      },
    );
  }
}
