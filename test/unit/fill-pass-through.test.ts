import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors/storage-error.js';
import { Fill, PASS_THROUGH_HOLD_BYTES, type FillSource } from '../../src/fill/fill.js';
import { parseDigest } from '../../src/oci/digest.js';
import type { BlobWriter } from '../../src/ports/blob-backend.js';

const CHUNK = 64 * 1024;
const logger = pino({ level: 'silent' });
const deadline = { minMs: 600_000, minBytesPerSecond: 1 };
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An upstream in memory, counting what the fill pulled from it. */
function memorySource(data: Buffer): FillSource & { pulled: () => number; aborted: () => Error | undefined } {
  let pulled = 0;
  let aborted: Error | undefined;
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let at = 0; at < data.length; at += CHUNK) {
      if (aborted) throw aborted;
      const chunk = data.subarray(at, at + CHUNK);
      pulled += chunk.length;
      yield chunk;
    }
  }
  return {
    size: data.length,
    chunks: chunks(),
    abort: (reason) => void (aborted ??= reason),
    pulled: () => pulled,
    aborted: () => aborted,
  };
}

/** A disk that is full: every write fails with ENOSPC. */
function fullDiskWriter(): BlobWriter & { cancelled: number } {
  const writer = {
    cancelled: 0,
    write: () => Promise.reject(new StorageError('write temp file', Object.assign(new Error('no space left'), { code: 'ENOSPC' }))),
    read: () => Promise.resolve(0),
    commit: () => Promise.reject(new Error('commit after a failed write')),
    cancel: () => {
      writer.cancelled++;
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  return writer;
}

/** Lets the in-memory download run as far as it will (no I/O involved: a few turns suffice). */
async function settle(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

describe('a fill whose writer fails', () => {
  it('goes on from memory at the pace of its slowest reader: whole verified bytes, memory bounded, nothing stored, the failure reported once', async () => {
    const data = randomBytes(16 * 1024 * 1024);
    const source = memorySource(data);
    const writer = fullDiskWriter();
    const failures: StorageError[] = [];
    const fill = new Fill({ digest: parseDigest(sha(data)), source, writer, deadline, logger, onStorageFailure: (err) => failures.push(err) });
    const fast = fill.body(0)!.stream();
    const slow = fill.body(0)!.stream(); // fills its 256 KiB buffer, then holds the upstream back
    slow.read(0);
    const fastRead = readAll(fast);
    await settle();
    expect(failures.map((f) => f.reason)).toEqual(['no-space']);
    expect(fill.passThrough).toBe(true);
    expect(fill.state).toBe('running');
    // The slow reader took one stream buffer (256 KiB) at most; the upstream is read no further than the hold beyond it.
    expect(source.pulled()).toBeLessThanOrEqual(256 * 1024 + PASS_THROUGH_HOLD_BYTES + CHUNK);
    expect(source.pulled()).toBeLessThan(data.length);
    // What every reader passed is dropped: a new reader from there starts its own pass-through, one from here on joins.
    expect(fill.body(0)).toBeUndefined();
    const late = fill.body(256 * 1024);
    expect(late).toBeDefined();
    late?.discard();

    const slowBytes = await readAll(slow);
    const fastBytes = await fastRead;
    expect([fastBytes.equals(data), slowBytes.equals(data)]).toEqual([true, true]);
    expect(fill.state).toBe('verified');
    expect(await fill.stored).toBeUndefined();
    expect(fill.storageFailure).toBe(failures[0]);
    expect(failures.length).toBe(1);
    expect(writer.cancelled).toBe(1);
  });

  it('takes no new reader from before what it still holds, and stops once its last reader leaves', async () => {
    const data = randomBytes(16 * 1024 * 1024);
    const source = memorySource(data);
    const failures: StorageError[] = [];
    const fill = new Fill({
      digest: parseDigest(sha(data)),
      source,
      writer: fullDiskWriter(),
      deadline,
      logger,
      onStorageFailure: (err) => failures.push(err),
    });
    const reader = fill.body(0)!.stream();
    // Read past the first chunks, then stop reading.
    let got = 0;
    for await (const part of reader) {
      got += (part as Buffer).length;
      if (got > 2 * 1024 * 1024) break; // destroys the stream: the reader leaves
    }
    await fill.finished;
    expect(fill.state).toBe('failed');
    expect(fill.error).toBe(failures[0]);
    expect(source.aborted()).toBe(failures[0]);
    expect(source.pulled()).toBeLessThan(data.length);
    expect(fill.body(0)).toBeUndefined();
  });

  it('a fill with no writer at all (the temp file could not be created) serves the blob through', async () => {
    const data = randomBytes(1024 * 1024 + 17);
    const unstored = new StorageError('create temp file', Object.assign(new Error('read-only'), { code: 'EROFS' }));
    const fill = new Fill({ digest: parseDigest(sha(data)), source: memorySource(data), writer: undefined, unstored, deadline, logger });
    expect(fill.passThrough).toBe(true);
    const bytes = await readAll(fill.body(0)!.stream());
    expect(bytes.equals(data)).toBe(true);
    expect([fill.state, await fill.stored, fill.storageFailure]).toEqual(['verified', undefined, unstored]);
  });

  it('still verifies the digest: wrong bytes break the transfer', async () => {
    const data = randomBytes(1024 * 1024);
    const fill = new Fill({ digest: parseDigest(sha(Buffer.from('other'))), source: memorySource(data), writer: fullDiskWriter(), deadline, logger });
    await expect(readAll(fill.body(0)!.stream())).rejects.toThrow('upstream content does not match its digest');
    expect(fill.state).toBe('failed');
  });
});

describe('the deadline of a fill without a writer', () => {
  it('does not count the time it waits for a slow reader (the upstream was not slow)', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const fill = new Fill({
      digest: parseDigest(sha(data)),
      source: memorySource(data),
      writer: undefined,
      deadline: { minMs: 1500, minBytesPerSecond: 1024 * 1024 * 1024 },
      logger,
    });
    const reader = fill.body(0)!.stream();
    await settle(); // the hold is full: the download waits for this reader
    await new Promise((resolve) => setTimeout(resolve, 2000)); // past the 1.5 s deadline
    const bytes = await readAll(reader);
    expect([fill.state, bytes.equals(data)]).toEqual(['verified', true]);
  });
});
