import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { CuttingRelay } from '../support/cutting-relay.js';
import { http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { missingTools, startDistribution, type Distribution } from '../support/peers.js';
import { pushImage } from '../support/registry-push.js';

const missing = missingTools('docker-registry');

describe.skipIf(missing)('a fill resumes with Range against the CNCF distribution registry when the link breaks mid-blob', () => {
  let dir: string;
  let upstream: Distribution;
  let relay: CuttingRelay;
  let mirror: Mirror;
  const layer = randomLayer(8 * 1024 * 1024);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cargohold-e2e-resume-'));
    upstream = await startDistribution(join(dir, 'upstream'));
    await pushImage(upstream.url, 'library/big', 'latest', image([layer]));
    const target = new URL(upstream.url);
    relay = new CuttingRelay({ host: target.hostname, port: Number(target.port) }, 3 * 1024 * 1024);
    mirror = await startMirror(await relay.start(), {}, join(dir, 'mirror'));
  });
  afterAll(async () => {
    await mirror?.close();
    await relay?.stop();
    await upstream?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the client gets the whole blob, and the upstream sent the rest as a 206 from where the cut was', async () => {
    const res = await http(mirror.url, `/v2/library/big/blobs/${layer.digest}`);
    expect([res.status, res.sha256()]).toEqual([200, layer.digest]);
    expect(relay.cuts).toBe(1);
    const gets = upstream.requests().filter((r) => r.method === 'GET' && r.path.endsWith(layer.digest));
    expect(gets.map((r) => r.status)).toEqual([200, 206]);
    const resumed = mirror.logs.find((l) => l.msg === 'upstream broke off mid-blob; resuming with Range');
    expect(resumed?.received).toBeGreaterThan(0);
    expect(resumed?.received).toBeLessThan(layer.size);
    await mirror.idle(); // the last byte reaches the client before the commit
    const stored = mirror.logs.find((l) => l.msg === 'blob stored' && l.digest === layer.digest);
    expect(stored?.bytes).toBe(layer.size);
  });
});
