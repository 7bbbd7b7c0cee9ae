import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseDigest } from '../../src/oci/digest.js';
import { FsBlobBackend } from '../../src/storage/fs-backend.js';
import { StoragePaths } from '../../src/storage/paths.js';
import { image, randomLayer, sha256 } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { blobPath, startMirror, type Mirror } from '../support/mirror.js';

/**
 * A process killed between a blob's commit (the rename) and its record leaves a stored
 * blob with no row: the next miss re-verifies it instead of downloading it again.
 */
let hub: FakeHub;
let mirror: Mirror | undefined;
let dir: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cargohold-orphan-'));
  hub = await FakeHub.start();
});

afterEach(async () => {
  await mirror?.close();
  mirror = undefined;
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Stores bytes under a digest through the backend, with no metadata record (as a kill after the commit leaves it). */
async function storeWithoutRecord(digest: string, bytes: Buffer): Promise<void> {
  const backend = new FsBlobBackend(new StoragePaths(dir));
  await backend.init();
  const writer = await backend.writer(parseDigest(digest));
  try {
    await writer.write([bytes]);
    await writer.commit();
  } finally {
    await writer.close();
  }
}

/** Requests for the blob; on the registry only authorized ones (the first, anonymous one is the token challenge). */
const count = (server: 'registry' | 'cdn', method: string, digest: string) =>
  hub.requests.filter(
    (r) => r.server === server && r.method === method && r.path.includes(`/blobs/${digest}`) && (server === 'cdn' || r.authorization),
  ).length;

describe('a stored blob with no record', () => {
  it('is re-verified, recorded and served: no upstream GET, one HEAD confirming the repository', async () => {
    const layer = randomLayer(300_000);
    hub.push('library/node', 'latest', image([layer]));
    await storeWithoutRecord(layer.digest, layer.bytes);
    mirror = await startMirror(hub.registryUrl, { upstream: hub.trusted }, dir);

    const res = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, res.headers['x-cargohold-cache'], res.body.length, res.sha256()]).toEqual([200, 'hit', layer.size, layer.digest]);
    expect([count('registry', 'GET', layer.digest), count('cdn', 'GET', layer.digest), count('registry', 'HEAD', layer.digest)]).toEqual([0, 0, 1]);
    expect(mirror.logs.find((l) => l.msg === 'stored blob without a record verified and recorded')?.digest).toBe(layer.digest);

    // Recorded and linked now: served with no upstream request at all.
    const again = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([again.status, again.headers['x-cargohold-cache'], again.sha256()]).toEqual([200, 'hit', layer.digest]);
    expect([count('registry', 'GET', layer.digest), count('cdn', 'GET', layer.digest), count('registry', 'HEAD', layer.digest)]).toEqual([0, 0, 1]);
  });

  it('that does not match its digest is removed and fetched again (one GET): the client gets the right bytes', async () => {
    const layer = randomLayer(300_000);
    hub.push('library/node', 'latest', image([layer]));
    const corrupt = Buffer.from(layer.bytes).fill(0x41, 0, 16);
    await storeWithoutRecord(layer.digest, corrupt);
    mirror = await startMirror(hub.registryUrl, { upstream: hub.trusted }, dir);

    const res = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, res.headers['x-cargohold-cache'], res.sha256()]).toEqual([200, 'miss', layer.digest]);
    await mirror.idle();
    expect([count('cdn', 'GET', layer.digest), count('registry', 'HEAD', layer.digest)]).toEqual([1, 0]);
    expect(mirror.logs.find((l) => l.msg === 'stored blob without a record does not match its digest; removing it')?.digest).toBe(layer.digest);
    expect(sha256(readFileSync(blobPath(dir, layer.digest)))).toBe(layer.digest);

    const again = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([again.status, again.headers['x-cargohold-cache'], again.sha256()]).toEqual([200, 'hit', layer.digest]);
    expect(count('cdn', 'GET', layer.digest)).toBe(1);
  });
});
