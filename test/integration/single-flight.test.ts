import { describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { brokenTransfer, http } from '../support/http.js';
import { waitFor } from '../support/wait.js';

const ctx = useHubAndMirror();

describe('one upstream fetch per blob', () => {
  it('20 concurrent clients on an uncached 50 MiB blob cause one upstream GET, and bytes stream before the upstream finishes', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(50 * 1024 * 1024);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 1024 * 1024, release: released });

    const { Agent } = await import('undici');
    const agent = new Agent({ connections: 32 });
    const firstBytes: boolean[] = [];
    const clients = Array.from({ length: 20 }, async () => {
      const res = await agent.request({ origin: mirror.url, path: `/v2/library/node/blobs/${layer.digest}`, method: 'GET' });
      const chunks: Buffer[] = [];
      for await (const chunk of res.body) {
        if (chunks.length === 0) firstBytes.push(true);
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    });
    // Every client receives bytes while the upstream is still paused mid-blob.
    await waitFor(() => firstBytes.length === 20);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    release();
    const bodies = await Promise.all(clients);
    await agent.close();
    for (const body of bodies) expect(body.equals(layer.bytes)).toBe(true);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    // One GET, and before it the 401 that taught the mirror the token realm.
    expect(hub.count({ server: 'registry', method: 'GET', path: /\/blobs\// })).toBe(2);
    expect(hub.count({ server: 'realm' })).toBe(1);
  });

  it('a client that disconnects mid-fill does not stop the fill', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(2 * 1024 * 1024);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 512 * 1024, release: new Promise<void>((r) => (release = r)) });
    // A client that reads the first bytes, then closes its socket.
    const { get } = await import('node:http');
    await new Promise<void>((resolve, reject) => {
      const req = get(`${mirror.url}/v2/library/node/blobs/${layer.digest}`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    release();
    // The fill completes ("blob stored") and the blob is then served from disk without a second download.
    await waitFor(() => mirror.logs.find((l) => l.msg === 'blob stored' && l.digest === layer.digest) !== undefined);
    const full = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect(full.sha256()).toBe(layer.digest);
    await waitFor(() => mirror.logs.requests().some((l) => l.method === 'GET' && l.cache === 'hit'));
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
  });

  it('an upstream reset mid-blob fails every reader, stores nothing, and the next request succeeds', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(2 * 1024 * 1024);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    // Paused at 100 000 bytes until all five readers joined the one fill, then reset at 700 000 (and at once on every resume).
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 100_000, release: new Promise<void>((r) => (release = r)), resetAfter: 700_000 });
    const transfers = Array.from({ length: 5 }, () => brokenTransfer(mirror.url, `/v2/library/node/blobs/${layer.digest}`));
    await waitFor(() => mirror.inspect().readers === 5, 10_000, 'five readers on the fill');
    release();
    const results = await Promise.all(transfers);
    for (const res of results) {
      expect([res.status, res.ended]).toEqual([200, 'UND_ERR_SOCKET']);
      expect(res.received).toBeLessThanOrEqual(700_000);
    }
    // One GET, and one resume with Range that brought nothing (the link keeps breaking): then the fill gives up.
    const gets = hub.requests.filter((r) => r.server === 'cdn' && r.method === 'GET');
    expect(gets.map((r) => r.range)).toEqual([undefined, expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
    expect(mirror.logs.find((l) => l.msg === 'blob stored')).toBeUndefined();
    hub.blobBehaviour.delete(layer.digest);
    const again = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([again.status, again.sha256()], again.body.length < 2000 ? again.body.toString() : '').toEqual([200, layer.digest]);
  });

  it('a fill the upstream breaks off once resumes with Range where it stopped: every reader gets the whole blob', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(2 * 1024 * 1024);
    hub.push('library/node', 'latest', image([layer]));
    hub.blobBehaviour.set(layer.digest, { resetAfter: 700_000, resets: 1 });
    const results = await Promise.all(Array.from({ length: 5 }, () => http(mirror.url, `/v2/library/node/blobs/${layer.digest}`)));
    for (const res of results) expect([res.status, res.sha256()]).toEqual([200, layer.digest]);
    const gets = hub.requests.filter((r) => r.server === 'cdn' && r.method === 'GET');
    expect(gets).toHaveLength(2);
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(gets[1]?.range ?? '')?.[1]);
    const resumed = mirror.logs.find((l) => l.msg === 'upstream broke off mid-blob; resuming with Range');
    expect(resumed?.received).toBe(resumedFrom); // asked for exactly the bytes it did not have
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(700_000);
    await waitFor(() => mirror.logs.find((l) => l.msg === 'blob stored' && l.digest === layer.digest) !== undefined);
    const cached = await http(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect(cached.sha256()).toBe(layer.digest);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(2);
  });

  it('an upstream that ignores Range cannot resume: readers fail, nothing is stored', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(2 * 1024 * 1024);
    hub.push('library/node', 'latest', image([layer]));
    hub.blobBehaviour.set(layer.digest, { resetAfter: 700_000, resets: 1, ignoreRange: true });
    const res = await brokenTransfer(mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    expect([res.status, res.ended]).toEqual([200, 'UND_ERR_SOCKET']);
    expect(res.received).toBeLessThanOrEqual(700_000);
    await waitFor(() => mirror.logs.find((l) => l.msg === 'blob fill failed; nothing stored') !== undefined);
    expect(mirror.logs.find((l) => l.msg === 'blob fill failed; nothing stored')?.err).toMatch(/Range/);
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(2);
    expect(mirror.logs.find((l) => l.msg === 'blob stored')).toBeUndefined();
  });
});
