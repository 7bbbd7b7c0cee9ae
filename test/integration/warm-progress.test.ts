import { describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import type { WarmJobEvent } from '../../src/warm/warm-job.js';
import { image, randomLayer } from '../fixtures/images.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { waitFor } from '../support/wait.js';

// Tags stay fresh for an hour here: a warm within it asks the upstream nothing, unless --refresh.
const ctx = useHubAndMirror(() => ({ upstream: { tagTtlSeconds: 3600 } }));
const MiB = 1024 * 1024;

describe('warm', () => {
  it('reports the bytes of a big layer as they arrive, before the layer is done', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(8 * MiB);
    const img = image([layer]);
    hub.push('library/big', '1', img);
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 3 * MiB, release: new Promise<void>((r) => (release = r)) });
    const events: WarmJobEvent[] = [];
    const done = new AdminClient(mirror.adminSocket).warm({ targets: [{ image: 'big:1', platforms: 'all' }], concurrency: 2, pin: false }, (e) =>
      events.push(e),
    );
    const total = img.blobs.reduce((n, b) => n + b.size, 0);
    // While the upstream is paused after 3 MiB, progress already counts those bytes; the layer is not done.
    await waitFor(() => events.some((e) => e.kind === 'progress' && e.bytes >= 3 * MiB), 10_000, 'progress of 3 MiB');
    expect(events.find((e) => e.kind === 'image')).toMatchObject({ blobs: 2, bytes: total });
    expect(events.some((e) => e.kind === 'blob' && e.digest === layer.digest)).toBe(false);
    const during = events.filter((e) => e.kind === 'progress');
    expect(during.every((e) => e.kind === 'progress' && e.total === total && e.bytes <= total)).toBe(true);
    release();
    await done;
    expect(events.at(-1)).toMatchObject({ kind: 'summary', failed: 0, summary: { blobs: 2, bytesFetched: total } });
  });

  it('--refresh asks the upstream about the tag now; without it a fresh tag costs no request', async () => {
    const { hub, mirror } = ctx;
    hub.push('library/app', '1', image([randomLayer(1000)]));
    const admin = new AdminClient(mirror.adminSocket);
    const warm = (refresh: boolean) =>
      admin.warm({ targets: [{ image: 'app:1', platforms: 'all' }], concurrency: 1, pin: false, refresh }, () => undefined);
    await warm(false);
    const tagRequests = () => hub.count({ server: 'registry', path: '/v2/library/app/manifests/1' });
    const before = tagRequests();
    await warm(false);
    expect(tagRequests()).toBe(before);
    await warm(true);
    expect(tagRequests()).toBe(before + 1);
  });
});
