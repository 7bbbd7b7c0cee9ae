import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { mountTmpfs } from '../support/tmpfs.js';

let hub: FakeHub;
let mirror: Mirror | undefined;
const cleanups: Array<() => void> = [];

beforeEach(async () => {
  hub = await FakeHub.start();
});

afterEach(async () => {
  try {
    await mirror?.close();
  } finally {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
    if (mirror) rmSync(mirror.dataDir, { recursive: true, force: true });
    mirror = undefined;
    await hub.close();
  }
});

function remount(dir: string, options: string): void {
  const done = spawnSync('mount', ['-o', `remount,${options}`, dir], { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`mount -o remount,${options} ${dir}: ${done.stderr}`);
}

/** A data dir on its own tmpfs of this size; undefined (with the reason) where mounting needs root we lack. */
function tmpfsDataDir(bytes: number): string | { skip: string } {
  const dir = mkdtempSync(join(tmpdir(), 'cargohold-health-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const mounted = mountTmpfs(dir, bytes);
  if (typeof mounted === 'string') return { skip: mounted };
  cleanups.push(mounted);
  return dir;
}

describe('/healthz and /readyz', () => {
  it('healthz is 200 {"status":"ok"}; readyz is 200 with every check passed; neither sends anything upstream', async () => {
    mirror = await startMirror(hub.registryUrl);
    const health = await http(mirror.url, '/healthz');
    expect([health.status, health.json(), health.headers['cache-control']]).toEqual([200, { status: 'ok' }, 'no-store']);
    const ready = await http(mirror.url, '/readyz');
    const body = ready.json<{ status: string; checks: { diskSpace: { freeBytes: number } } }>();
    expect([ready.status, body.status]).toEqual([200, 'ready']);
    expect(body.checks).toEqual({
      metadata: { ok: true },
      dataDir: { ok: true },
      diskSpace: { ok: true, freeBytes: body.checks.diskSpace.freeBytes, minFreeBytes: 2 ** 30 },
      storage: { ok: true },
    });
    expect(body.checks.diskSpace.freeBytes).toBeGreaterThanOrEqual(2 ** 30);
    expect(readdirSync(join(mirror.dataDir, 'tmp'))).toEqual([]); // the write probe is gone
    // Even with the upstream gone.
    await hub.stopRegistry();
    expect((await http(mirror.url, '/readyz')).status).toBe(200);
    expect(hub.requests).toEqual([]);
  });

  it('readyz is 503 naming the data dir while it is read-only, and 200 again once it is writable', async (t) => {
    mirror = await startMirror(hub.registryUrl);
    const tmp = join(mirror.dataDir, 'tmp');
    // A read-only bind mount over tmp/ (where fills and the probe write): chmod would not stop root.
    const bound = spawnSync('mount', ['--bind', tmp, tmp], { encoding: 'utf8' });
    if (bound.status !== 0) {
      const message = `cannot bind-mount (needs root): ${bound.stderr.trim()}`;
      if (process.env.CI === 'true') throw new Error(`${message}: required in CI`);
      return t.skip(message);
    }
    cleanups.push(() => {
      const unmounted = spawnSync('umount', [tmp], { encoding: 'utf8' });
      if (unmounted.status !== 0) throw new Error(`umount ${tmp}: ${unmounted.stderr}`);
    });
    expect((await http(mirror.url, '/readyz')).status).toBe(200);

    remount(tmp, 'bind,ro');
    const refused = await http(mirror.url, '/readyz');
    const body = refused.json<{ status: string; failed: string[]; checks: Record<string, { ok: boolean; error?: string }> }>();
    expect([refused.status, body.status, body.failed]).toEqual([503, 'unready', ['dataDir']]);
    expect(body.checks.dataDir).toEqual({
      ok: false,
      error: expect.stringMatching(/^EROFS: read-only file system, open '.*\/tmp\/[a-z0-9]+\.readyz\.\d+'$/),
    });
    expect(body.checks.metadata).toEqual({ ok: true });
    expect(body.checks.diskSpace?.ok).toBe(true);

    remount(tmp, 'bind,rw');
    expect((await http(mirror.url, '/readyz')).status).toBe(200);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('readyz is 503 naming the free space while it is under health.minFreeBytes, and 200 again once there is room', async (t) => {
    const dir = tmpfsDataDir(16 * 1024 * 1024);
    if (typeof dir !== 'string') return t.skip(dir.skip);
    mirror = await startMirror(hub.registryUrl, { health: { minFreeBytes: '32MiB' } }, dir);

    const refused = await http(mirror.url, '/readyz');
    const body = refused.json<{ status: string; failed: string[]; checks: Record<string, { ok: boolean; error?: string; freeBytes?: number }> }>();
    expect([refused.status, body.status, body.failed]).toEqual([503, 'unready', ['diskSpace']]);
    const free = body.checks.diskSpace?.freeBytes as number;
    expect(free).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(body.checks.diskSpace).toEqual({
      ok: false,
      freeBytes: free,
      minFreeBytes: 32 * 1024 * 1024,
      error: `${free} bytes free on the data dir's filesystem, below health.minFreeBytes (33554432)`,
    });
    expect([body.checks.metadata, body.checks.dataDir]).toEqual([{ ok: true }, { ok: true }]);

    remount(dir, `size=${64 * 1024 * 1024}`);
    const ready = await http(mirror.url, '/readyz');
    expect([ready.status, ready.json<{ status: string }>().status]).toEqual([200, 'ready']);
  });
});
