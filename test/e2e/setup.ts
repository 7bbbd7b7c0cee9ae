import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { buildTestImages, type TestImages } from '../fixtures/test-images.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { startDistribution, type Distribution } from '../support/peers.js';
import { pushImage } from '../support/registry-push.js';

export interface E2E {
  dir: string;
  upstream: Distribution;
  mirror: Mirror;
  images: TestImages;
  /** host:port of the mirror, as engines are configured with it. */
  mirrorHost: string;
  /** The upstream's access log: blob GETs so far. */
  upstreamBlobGets(): Array<{ method: string; path: string; status: number }>;
  /** Did the mirror answer this request with a 2xx (its own access log)? */
  mirrorServed(method: string, path: string): boolean;
}

/**
 * One suite's world: a real distribution registry loaded with the test images,
 * cargohold in front of it, all in a temp dir removed afterwards.
 */
export function useE2E(
  name: string,
  extra: (e2e: E2E) => Promise<void> = async () => undefined,
  /** The mirror's config, made once the suite's dir exists (files it names can go there). */
  mirrorConfig: (dir: string) => ConfigInput = () => ({}),
): E2E {
  const ctx = {} as E2E;
  beforeAll(async () => {
    ctx.dir = mkdtempSync(join(tmpdir(), `cargohold-e2e-${name}-`));
    ctx.upstream = await startDistribution(join(ctx.dir, 'upstream'));
    ctx.images = buildTestImages();
    await pushImage(ctx.upstream.url, 'library/node', '17-alpine', ctx.images.node17);
    await pushImage(ctx.upstream.url, 'library/node', '16-alpine', ctx.images.node16);
    await pushImage(ctx.upstream.url, 'myorg/app', '1.0', ctx.images.app);
    await pushImage(ctx.upstream.url, 'library/multi', 'latest', ctx.images.multiOci);
    await pushImage(ctx.upstream.url, 'library/multi-list', 'latest', ctx.images.multiDocker);
    ctx.mirror = await startMirror(ctx.upstream.url, mirrorConfig(ctx.dir), join(ctx.dir, 'mirror'));
    ctx.mirrorHost = ctx.mirror.url.replace('http://', '');
    ctx.upstreamBlobGets = () => ctx.upstream.requests().filter((r) => r.method === 'GET' && r.path.includes('/blobs/'));
    ctx.mirrorServed = (method, path) =>
      ctx.mirror.logs.requests().some((l) => l.method === method && l.path === path && Number(l.status) >= 200 && Number(l.status) < 300);
    await extra(ctx);
  });
  afterAll(async () => {
    await ctx.mirror?.close();
    await ctx.upstream?.stop();
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
  });
  return ctx;
}
