import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { startCli } from '../support/cli-process.js';
import { FakeHub } from '../support/fake-hub.js';
import { brokenTransfer } from '../support/http.js';
import { blobPath, startMirror } from '../support/mirror.js';
import { waitFor } from '../support/wait.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** A hub with a 200 kB layer dripped a KiB every 50 ms (10 s in all): under every idle timeout, and far past the shutdown deadline. */
async function drippingHub() {
  const hub = await FakeHub.start();
  cleanup.push(() => hub.close());
  const layer = randomLayer(200_000);
  hub.push('library/node', 'latest', image([layer]));
  hub.blobBehaviour.set(layer.digest, { dripEveryMs: 50 });
  return { hub, layer, path: `/v2/library/node/blobs/${layer.digest}` };
}

function blobRows(dataDir: string): unknown[] {
  const db = new Database(join(dataDir, 'cargohold.db'), { readonly: true });
  try {
    return db.prepare('SELECT digest FROM blobs').all();
  } finally {
    db.close();
  }
}

// No fill deadline in the way: only the shutdown's.
const FILLS = { minSeconds: 600, minBytesPerSecond: 1 };

describe('shutdown bounds a stuck fill', () => {
  it('close() cancels a dripping fill at shutdownTimeoutMs: "stopped" is logged, no temp file is left, nothing is recorded, the client gets a broken transfer', async () => {
    const { hub, layer, path } = await drippingHub();
    const mirror = await startMirror(hub.registryUrl, { shutdownTimeoutMs: 300, fills: FILLS, upstream: hub.trusted });
    cleanup.push(() => mirror.destroy());
    const tmp = join(mirror.dataDir, 'tmp');
    const transfer = brokenTransfer(mirror.url, path);
    await waitFor(() => readdirSync(tmp).length === 1, 10_000, 'the fill to start');

    await mirror.close();
    const events = [
      'shutting down: finishing requests in flight',
      'shutdown deadline reached: cancelling fills and upstream requests in progress',
      'blob fill failed; nothing stored',
      'stopped',
    ];
    expect(mirror.logs.lines.map((l) => l.msg).filter((m) => events.includes(m as string))).toEqual(events);
    expect(mirror.logs.find((l) => l.msg === 'blob fill failed; nothing stored')?.err).toBe('the mirror is shutting down');
    expect(readdirSync(tmp)).toEqual([]);
    expect(existsSync(blobPath(mirror.dataDir, layer.digest))).toBe(false);
    expect(blobRows(mirror.dataDir)).toEqual([]);
    const res = await transfer;
    expect([res.status, res.ended]).toEqual([200, 'UND_ERR_SOCKET']);
    expect(res.received).toBeLessThan(layer.size);
  });

  it('SIGTERM with a dripping fill: the process logs "stopped" and exits 0 by itself, leaving no temp file', async () => {
    const { hub, layer, path } = await drippingHub();
    const dataDir = mkdtempSync(join(tmpdir(), 'cargohold-shutdown-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const configFile = join(dataDir, 'cargohold.yaml');
    writeFileSync(
      configFile,
      `shutdownTimeoutMs: 300\nfills: { minSeconds: ${FILLS.minSeconds}, minBytesPerSecond: ${FILLS.minBytesPerSecond} }\nupstream:\n  tokenRealmOrigins: ["${hub.realmUrl}"]\n  redirectOrigins: ["${hub.cdnUrl}"]\n`,
    );
    const cli = startCli(['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--upstream', hub.registryUrl, '--config', configFile]);
    cleanup.push(() => {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
    });
    const transfer = brokenTransfer(`http://127.0.0.1:${await cli.port()}`, path);
    const tmp = join(dataDir, 'tmp');
    await waitFor(() => readdirSync(tmp).length === 1, 10_000, 'the fill to start');

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.output()).toContain('"msg":"shutdown deadline reached: cancelling fills and upstream requests in progress"');
    expect(cli.output()).toContain('"msg":"stopped"');
    expect(readdirSync(tmp)).toEqual([]);
    expect(blobRows(dataDir)).toEqual([]);
    const res = await transfer;
    expect([res.status, res.ended]).toEqual([200, 'UND_ERR_SOCKET']);
    expect(res.received).toBeLessThan(layer.size);
  });
});
