import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { brokenTransfer, http } from '../support/http.js';
import { blobPath } from '../support/mirror.js';

// A fill may take as long as its bytes at 1 MiB/s, and at least 0.5 s; the idle body timeout (5 s in tests) never fires on a drip.
const ctx = useHubAndMirror(() => ({ fills: { minSeconds: 0.5, minBytesPerSecond: 1024 * 1024 } }));

describe('a fill has its own deadline', () => {
  it('an upstream dripping a KiB every 50 ms fails the fill at its deadline: readers break off, nothing is stored, the next request refetches', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(200_000);
    hub.push('library/node', 'latest', image([layer]));
    hub.blobBehaviour.set(layer.digest, { dripEveryMs: 50 });
    const res = await brokenTransfer(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, res.ended]).toEqual([200, 'UND_ERR_SOCKET']);
    expect(res.received).toBeLessThan(layer.size);
    await mirror.idle();
    const failed = mirror.logs.find((l) => l.msg === 'blob fill failed; nothing stored');
    expect(failed?.err).toMatch(/^blob transfer exceeded its deadline \(1 s, \d+ bytes received\)$/);
    expect(existsSync(blobPath(mirror.dataDir, layer.digest))).toBe(false);
    expect(readdirSync(join(mirror.dataDir, 'tmp'))).toEqual([]);
    // Not resumed: the deadline is final for this fill.
    expect(hub.count({ server: 'cdn', path: new RegExp(layer.digest) })).toBe(1);

    hub.blobBehaviour.delete(layer.digest);
    const again = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([again.status, again.sha256()]).toEqual([200, layer.digest]);
    expect(hub.count({ server: 'cdn', path: new RegExp(layer.digest) })).toBe(2);
  });
});
