import { Agent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { waitFor } from '../support/wait.js';

const ctx = useHubAndMirror();
const agent = new Agent();
afterAll(() => agent.close());

describe('a blob from a slow upstream', () => {
  it('the client gets the status and headers as soon as the upstream sends its own, not with the first byte; a transfer that then breaks is logged as broken', async () => {
    const { hub, mirror } = ctx;
    const layer = randomLayer(200_000);
    hub.push('library/node', 'latest', image([layer]));
    let release!: () => void;
    // Headers, then nothing until released; then 1000 bytes and a reset, and every resume resets at once.
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 0, release: new Promise<void>((r) => (release = r)), resetAfter: 1000 });
    const path = `/v2/library/node/blobs/${layer.digest}`;

    const res = await agent.request({ origin: mirror.url, path, method: 'GET' });
    // The upstream has sent no byte yet (it is still held): the head came first.
    expect(hub.count({ server: 'cdn', method: 'GET' })).toBe(1);
    expect([res.statusCode, res.headers['content-length'], res.headers['docker-content-digest'], res.headers['x-cargohold-cache']]).toEqual([
      200,
      String(layer.size),
      layer.digest,
      'miss',
    ]);

    release();
    let received = 0;
    let ended = 'complete';
    try {
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    } catch (err) {
      ended = (err as { code?: string }).code ?? (err as Error).message;
    }
    expect(ended).toBe('UND_ERR_SOCKET');
    expect(received).toBe(999); // all but the last byte received, which waits for the digest
    await waitFor(() => mirror.logs.requests().some((l) => l.path === path));
    const line = mirror.logs.requests().find((l) => l.path === path);
    expect(line).toMatchObject({ status: 200, bytes: null, aborted: true, sent: received, expected: layer.size, headersSent: true, cache: 'miss' });
    await mirror.idle();
  });
});
