import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf, parseDigest, type Digest } from '../../src/oci/digest.js';
import type { BlobBackend, BlobWriter, StoredBlob } from '../../src/ports/blob-backend.js';
import type { BlobBody } from '../../src/storage/blob-body.js';

export interface MadeBlobBackend {
  backend: BlobBackend;
  /** A second instance over the same storage: another process's view, with its own instance id. */
  other: () => Promise<BlobBackend>;
  cleanup: () => Promise<void>;
}

/** Deterministic, position-dependent bytes, so a byte read from the wrong offset shows. */
function bytes(length: number, seed = 0): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed * 17 + (i >> 8)) % 251;
  return out;
}

function digestFor(content: Buffer): Digest {
  return parseDigest(digestOf(content));
}

/** How long a consumed stream may take to close (and so release the blob) after its last byte. */
const CLOSE_WITHIN_MS = 500;

/**
 * Collects body.stream(). The body is released when its stream closes, so a stream that
 * ends but never closes holds the blob forever: that fails the test here (and the stream
 * is destroyed, so one leak does not fail the tests after it through the invariant check).
 */
async function fromStream(body: BlobBody): Promise<Buffer> {
  const stream = body.stream();
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  if (!stream.closed) {
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), CLOSE_WITHIN_MS);
      stream.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!closed) {
      stream.destroy();
      throw new Error(`body.stream() ended but did not close within ${CLOSE_WITHIN_MS} ms: the blob is never released`);
    }
  }
  return Buffer.concat(chunks);
}

/** Collects what writeTo writes; copies each chunk, since a pump reuses its buffers once a write completes. */
async function fromWriteTo(body: BlobBody): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      callback();
    },
  });
  await body.writeTo(out);
  out.end();
  return Buffer.concat(chunks);
}

/** Reads [position, position + length) of a writer into a fresh buffer; what read returned, trimmed. */
async function readBack(writer: BlobWriter, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  const n = await writer.read(buffer, length, position);
  return buffer.subarray(0, n);
}

async function listAll(backend: BlobBackend): Promise<Array<{ digest: string; size: number }>> {
  const all: Array<{ digest: string; size: number }> = [];
  for await (const info of backend.list()) all.push({ digest: info.digest, size: info.size });
  return all.sort((a, b) => (a.digest < b.digest ? -1 : 1));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The BlobBackend contract, through the port only (no paths, no files), so an object store
 * passes it unchanged. Every writer is closed and every StoredBlob / BlobBody consumed or
 * released: the invariant check after each test fails on a blob left open.
 */
export function blobBackendContract(name: string, make: () => Promise<MadeBlobBackend>): void {
  describe(`BlobBackend contract: ${name}`, () => {
    let backend: BlobBackend;
    let other: () => Promise<BlobBackend>;
    let cleanup: (() => Promise<void>) | undefined;
    /** Writers a test opened: closed after it even when it fails, so one failure does not cascade. */
    let writers: BlobWriter[];

    beforeEach(async () => {
      writers = [];
      const made = await make();
      backend = made.backend;
      other = made.other;
      cleanup = made.cleanup;
    });

    afterEach(async () => {
      for (const writer of writers) await writer.close().catch(() => undefined);
      const done = cleanup;
      cleanup = undefined;
      await done?.();
    });

    async function writerOf(on: BlobBackend, digest: Digest): Promise<BlobWriter> {
      const writer = await on.writer(digest);
      writers.push(writer);
      return writer;
    }

    /** Writes content in one call and commits it. */
    async function store(content: Buffer, on: BlobBackend = backend): Promise<Digest> {
      const digest = digestFor(content);
      const writer = await writerOf(on, digest);
      await writer.write([content]);
      await writer.commit();
      await writer.close();
      return digest;
    }

    async function openOrFail(digest: Digest, on: BlobBackend = backend): Promise<StoredBlob> {
      const blob = await on.open(digest);
      if (!blob) throw new Error(`${digest.value} is not stored`);
      return blob;
    }

    /** Bytes [start, end] of a stored blob, read by a fresh open (a StoredBlob gives one body). */
    async function range(digest: Digest, start: number, end: number, via: 'stream' | 'writeTo', on: BlobBackend = backend): Promise<Buffer> {
      const blob = await openOrFail(digest, on);
      const body = blob.body(start, end);
      return via === 'stream' ? fromStream(body) : fromWriteTo(body);
    }

    it('stat and open are undefined, and delete false, for a digest never stored', async () => {
      const digest = digestFor(bytes(10));
      expect(await backend.stat(digest)).toBeUndefined();
      expect(await backend.open(digest)).toBeUndefined();
      expect(await backend.delete(digest)).toBe(false);
      expect(await listAll(backend)).toEqual([]);
    });

    it('a writer reads back what was written, at any position, never past what was written', async () => {
      const content = bytes(1000, 1);
      const writer = await writerOf(backend, digestFor(content));
      expect(await writer.read(Buffer.alloc(10), 10, 0)).toBe(0); // nothing written yet
      await writer.write([content.subarray(0, 100), content.subarray(100, 250)]);
      expect(await readBack(writer, 0, 250)).toEqual(content.subarray(0, 250));
      expect(await readBack(writer, 95, 10)).toEqual(content.subarray(95, 105)); // across the chunk boundary
      expect(await readBack(writer, 200, 100)).toEqual(content.subarray(200, 250)); // only what is there
      expect(await readBack(writer, 249, 1)).toEqual(content.subarray(249, 250));
      expect(await writer.read(Buffer.alloc(10), 10, 250)).toBe(0);
      expect(await writer.read(Buffer.alloc(10), 10, 999)).toBe(0);
      await writer.write([content.subarray(250, 600)]);
      await writer.write([content.subarray(600, 601), content.subarray(601, 1000)]);
      expect(await readBack(writer, 0, 2000)).toEqual(content);
      expect(await readBack(writer, 599, 3)).toEqual(content.subarray(599, 602));
      await writer.commit();
      await writer.close();
    });

    it('read fills only the bytes it reports', async () => {
      const content = bytes(20, 2);
      const writer = await writerOf(backend, digestFor(content));
      await writer.write([content]);
      const buffer = Buffer.alloc(32, 0xee);
      expect(await writer.read(buffer, 32, 15)).toBe(5);
      expect(buffer.subarray(0, 5)).toEqual(content.subarray(15, 20));
      expect(buffer.subarray(5)).toEqual(Buffer.alloc(27, 0xee));
      await writer.cancel();
      await writer.close();
    });

    it('nothing is visible under the digest before commit; after it stat, open and list show the blob', async () => {
      const content = bytes(300, 3);
      const digest = digestFor(content);
      const writer = await writerOf(backend, digest);
      await writer.write([content.subarray(0, 150)]);
      await writer.write([content.subarray(150)]);
      expect(await backend.stat(digest)).toBeUndefined();
      expect(await backend.open(digest)).toBeUndefined();
      expect(await listAll(backend)).toEqual([]);
      await writer.commit();
      expect(await backend.stat(digest)).toEqual({ size: 300 });
      const blob = await openOrFail(digest);
      expect(blob.size).toBe(300);
      expect(await fromWriteTo(blob.body(0, 299))).toEqual(content);
      expect(await listAll(backend)).toEqual([{ digest: digest.value, size: 300 }]);
      await writer.close();
    });

    for (const via of ['writeTo', 'stream'] as const) {
      it(`body(start, end) gives exactly bytes [start, end], by ${via}`, async () => {
        const content = bytes(4096, 4);
        const digest = await store(content);
        expect(await range(digest, 0, 4095, via)).toEqual(content);
        expect(await range(digest, 0, 0, via)).toEqual(content.subarray(0, 1)); // the first byte
        expect(await range(digest, 1234, 1234, via)).toEqual(content.subarray(1234, 1235)); // a single byte
        expect(await range(digest, 4095, 4095, via)).toEqual(content.subarray(4095)); // the last byte
        expect(await range(digest, 100, 2999, via)).toEqual(content.subarray(100, 3000));
        expect(await range(digest, 4000, 4095, via)).toEqual(content.subarray(4000));
      });
    }

    it('an empty blob is stored and read as zero bytes', async () => {
      const empty = Buffer.alloc(0);
      const digest = digestFor(empty);
      const writer = await writerOf(backend, digest);
      await writer.write([]);
      await writer.commit();
      await writer.close();
      expect(await backend.stat(digest)).toEqual({ size: 0 });
      expect(await listAll(backend)).toEqual([{ digest: digest.value, size: 0 }]);
      expect(await range(digest, 0, -1, 'writeTo')).toEqual(empty);
      expect(await range(digest, 0, -1, 'stream')).toEqual(empty);
    });

    it('about 3 MiB written over many calls reads back exactly, before and after commit', async () => {
      const content = bytes(3 * 1024 * 1024 + 4321, 5);
      const digest = digestFor(content);
      const writer = await writerOf(backend, digest);
      const step = 200_003; // not a power of two: the writes cross every internal boundary
      for (let at = 0; at < content.length; at += 2 * step) {
        const chunks = [content.subarray(at, at + step), content.subarray(at + step, at + 2 * step)].filter((c) => c.length > 0);
        await writer.write(chunks);
      }
      for (const position of [0, 262_143, 262_144, 1_000_000, content.length - 7]) {
        expect(await readBack(writer, position, 70_000)).toEqual(content.subarray(position, position + 70_000));
      }
      await writer.commit();
      await writer.close();
      expect(await backend.stat(digest)).toEqual({ size: content.length });
      expect((await range(digest, 0, content.length - 1, 'writeTo')).equals(content)).toBe(true);
      expect((await range(digest, 262_100, 2_500_000, 'writeTo')).equals(content.subarray(262_100, 2_500_001))).toBe(true);
      expect((await range(digest, 0, content.length - 1, 'stream')).equals(content)).toBe(true);
      expect((await range(digest, content.length - 1, content.length - 1, 'stream')).equals(content.subarray(-1))).toBe(true);
    });

    it('cancel leaves nothing visible, and a new writer for the same digest works', async () => {
      const content = bytes(500, 6);
      const digest = digestFor(content);
      const first = await writerOf(backend, digest);
      await first.write([content.subarray(0, 200)]);
      await first.cancel();
      await first.cancel(); // twice: fine
      await first.close();
      expect(await backend.stat(digest)).toBeUndefined();
      expect(await backend.open(digest)).toBeUndefined();
      expect(await listAll(backend)).toEqual([]);
      const second = await writerOf(backend, digest);
      await second.write([content]);
      await second.commit();
      await second.close();
      expect(await backend.stat(digest)).toEqual({ size: 500 });
      expect(await range(digest, 0, 499, 'writeTo')).toEqual(content);
    });

    it('close of a writer never committed leaves nothing visible', async () => {
      const content = bytes(50, 7);
      const digest = digestFor(content);
      const writer = await writerOf(backend, digest);
      await writer.write([content]);
      await writer.close();
      expect(await backend.stat(digest)).toBeUndefined();
      expect(await listAll(backend)).toEqual([]);
    });

    it('committing the same digest from two writers is idempotent, and the content stays right', async () => {
      const content = bytes(777, 8);
      const digest = digestFor(content);
      const one = await writerOf(backend, digest);
      const two = await writerOf(backend, digest);
      await one.write([content.subarray(0, 400)]);
      await two.write([content]);
      await one.write([content.subarray(400)]);
      await one.commit();
      expect(await range(digest, 0, 776, 'writeTo')).toEqual(content);
      await two.commit();
      await one.close();
      await two.close();
      expect(await backend.stat(digest)).toEqual({ size: 777 });
      expect(await range(digest, 0, 776, 'writeTo')).toEqual(content);
      expect(await listAll(backend)).toEqual([{ digest: digest.value, size: 777 }]);
      await store(content); // and once more, after both
      expect(await range(digest, 0, 776, 'writeTo')).toEqual(content);
    });

    it('a writer stays readable after commit, until close', async () => {
      const content = bytes(640, 9);
      const writer = await writerOf(backend, digestFor(content));
      await writer.write([content.subarray(0, 320), content.subarray(320)]);
      await writer.commit();
      expect(await readBack(writer, 0, 640)).toEqual(content);
      expect(await readBack(writer, 600, 100)).toEqual(content.subarray(600));
      await writer.close();
    });

    it('delete removes a stored blob: true, then false', async () => {
      const kept = await store(bytes(10, 10));
      const digest = await store(bytes(20, 11));
      expect(await backend.delete(digest)).toBe(true);
      expect(await backend.stat(digest)).toBeUndefined();
      expect(await backend.open(digest)).toBeUndefined();
      expect(await backend.delete(digest)).toBe(false);
      expect(await listAll(backend)).toEqual([{ digest: kept.value, size: 10 }]);
    });

    it('list yields exactly the committed blobs with their sizes', async () => {
      const committed = [bytes(1, 12), bytes(100, 13), bytes(2048, 14)];
      const digests: Digest[] = [];
      for (const content of committed) digests.push(await store(content));
      const pending = await writerOf(backend, digestFor(bytes(30, 15)));
      await pending.write([bytes(30, 15)]);
      const cancelled = await writerOf(backend, digestFor(bytes(40, 16)));
      await cancelled.write([bytes(40, 16)]);
      await cancelled.cancel();
      const expected = digests.map((d, i) => ({ digest: d.value, size: committed[i]!.length })).sort((a, b) => (a.digest < b.digest ? -1 : 1));
      expect(await listAll(backend)).toEqual(expected);
      await backend.delete(digests[1]!);
      expect(await listAll(backend)).toEqual(expected.filter((e) => e.digest !== digests[1]!.value));
      await pending.close();
      await cancelled.close();
    });

    it('another instance over the same storage sees what this one committed, and the reverse', async () => {
      const second = await other();
      const mine = await store(bytes(64, 17));
      const theirs = await store(bytes(65, 18), second);
      expect(await second.stat(mine)).toEqual({ size: 64 });
      expect(await range(mine, 0, 63, 'writeTo', second)).toEqual(bytes(64, 17));
      expect(await backend.stat(theirs)).toEqual({ size: 65 });
      expect(await range(theirs, 0, 64, 'writeTo')).toEqual(bytes(65, 18));
      expect(await listAll(second)).toEqual(await listAll(backend));
      expect(await second.delete(mine)).toBe(true);
      expect(await backend.stat(mine)).toBeUndefined();
    });

    it('sweepTemps removes an abandoned writer of another instance, never this instance own writer', async () => {
      const second = await other();
      const abandonedContent = bytes(90, 19);
      const abandoned = await writerOf(second, digestFor(abandonedContent)); // neither committed nor cancelled: a dead process's
      await abandoned.write([abandonedContent]);
      const ownContent = bytes(80, 20);
      const own = await writerOf(backend, digestFor(ownContent));
      await own.write([ownContent.subarray(0, 40)]);
      await sleep(20); // both temps are now older than 0 ms whatever the clock's granularity
      expect(await backend.sweepTemps(24 * 60 * 60 * 1000)).toBe(0); // nothing that old
      expect(await backend.sweepTemps(0)).toBe(1); // the other instance's, not ours
      expect(await backend.sweepTemps(0)).toBe(0); // already gone
      await own.write([ownContent.subarray(40)]);
      await own.commit();
      await own.close();
      expect(await range(digestFor(ownContent), 0, 79, 'writeTo')).toEqual(ownContent);
      expect(await backend.stat(digestFor(abandonedContent))).toBeUndefined();
      await abandoned.close();
      expect(await listAll(backend)).toEqual([{ digest: digestFor(ownContent).value, size: 80 }]);
    });

    it('sweepTemps finds nothing once other writers committed, cancelled or closed', async () => {
      const second = await other();
      await store(bytes(10, 21), second);
      const cancelled = await writerOf(second, digestFor(bytes(11, 22)));
      await cancelled.write([bytes(11, 22)]);
      await cancelled.cancel();
      await cancelled.close();
      const closed = await writerOf(second, digestFor(bytes(12, 23)));
      await closed.write([bytes(12, 23)]);
      await closed.close();
      await sleep(20);
      expect(await backend.sweepTemps(0)).toBe(0);
    });

    it('StoredBlob.close of a blob never read resolves', async () => {
      const digest = await store(bytes(100, 24));
      const blob = await openOrFail(digest);
      expect(blob.size).toBe(100);
      await blob.close();
    });

    it('a body discarded unread releases the blob', async () => {
      const digest = await store(bytes(100, 25));
      const blob = await openOrFail(digest);
      blob.body(0, 99).discard();
      expect(await range(digest, 0, 99, 'writeTo')).toEqual(bytes(100, 25));
    });
  });
}
