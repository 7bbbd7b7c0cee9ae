import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { image, index, randomLayer, type Image, type MultiArch } from '../fixtures/images.js';
import { startCli } from '../support/cli-process.js';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { pull } from '../support/pull.js';
import { waitFor } from '../support/wait.js';

let hub: FakeHub;
let dir: string;
let configFile: string;
let node: Image;
let multi: MultiArch;
const children: Array<ReturnType<typeof startCli>> = [];

beforeEach(async () => {
  hub = await FakeHub.start();
  dir = mkdtempSync(join(tmpdir(), 'cargohold-warm-'));
  mkdirSync(join(dir, 'data')); // only serve creates a data dir: warm and pin refuse a missing one
  configFile = join(dir, 'cargohold.yaml');
  writeFileSync(
    configFile,
    `dataDir: ${join(dir, 'data')}\nupstream:\n  url: ${hub.registryUrl}\n  tokenRealmOrigins: ["${hub.realmUrl}"]\n  redirectOrigins: ["${hub.cdnUrl}"]\n`,
  );
  node = image([randomLayer(300_000), randomLayer(1000)]);
  const amd = image([randomLayer(2000)], { architecture: 'amd64', format: 'oci' });
  const arm = image([randomLayer(2000)], { architecture: 'arm64', format: 'oci' });
  multi = index(
    [
      { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64' } },
    ],
    'oci',
  );
  hub.push('library/node', '17-alpine', node);
  hub.push('library/multi', 'latest', multi);
});

afterEach(async () => {
  for (const child of children.splice(0)) if (child.child.exitCode === null) child.child.kill('SIGKILL');
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

function cli(...args: string[]) {
  const child = startCli([...args, '--config', configFile]);
  children.push(child);
  return child;
}

async function runCli(...args: string[]): Promise<{ code: number | null; output: string }> {
  const child = cli(...args);
  const { code } = await child.exited;
  return { code, output: child.output() };
}

describe('cargohold warm', () => {
  it('fetches whole images (one platform, or all) beside a running server, which then serves them with the upstream stopped', async () => {
    const server = cli('serve', '--listen', '127.0.0.1:0');
    const base = `http://127.0.0.1:${await server.port()}`;
    const warm = await runCli('warm', 'node:17-alpine', '--platform', 'linux/arm64', 'multi', '--concurrency', '2');
    expect(warm.code).toBe(0);
    expect(warm.output).toContain('docker.io/library/node:17-alpine: ');
    expect(warm.output).toContain('library/multi:latest (linux/arm64)');
    expect(warm.output).toMatch(/warmed 2 image\(s\): 3 manifest\(s\), 5 blob\(s\); fetched [\d.]+ kB, already cached 0 B/);
    // Only the arm64 image of the index.
    for (const b of multi.images[0]?.image.blobs ?? []) expect(hub.count({ path: new RegExp(b.digest) })).toBe(0);
    for (const b of [...node.blobs, ...(multi.images[1]?.image.blobs ?? [])])
      expect(hub.count({ server: 'cdn', path: new RegExp(b.digest) })).toBe(1);

    await hub.stopRegistry();
    const pulled = await pull(base, 'library/node', '17-alpine');
    expect(pulled.digest).toBe(node.manifest.digest);
    await pull(base, 'library/multi', 'latest', 'arm64');

    await hub.startRegistry();
    const again = await runCli('warm', 'docker.io/library/node:17-alpine');
    expect(again.output).toMatch(/fetched 0 B, already cached [\d.]+ kB/);
    expect(again.output).toContain('already cached');
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('--all-platforms, --dockerfile with --build-arg, and --from-file; an image named twice is warmed once', async () => {
    writeFileSync(
      join(dir, 'Dockerfile'),
      'ARG BASE=node\nARG V=16-alpine\nARG IMAGE=${BASE}:${V}\nFROM ${IMAGE} AS base\nFROM base\nFROM scratch\n',
    );
    writeFileSync(join(dir, 'images.txt'), '# parents\nmulti\nnode:17-alpine\n\nmulti:latest\n');
    const args = ['--dockerfile', join(dir, 'Dockerfile'), '--build-arg', 'V=17-alpine', '--from-file', join(dir, 'images.txt'), '--all-platforms'];
    const out = await runCli('warm', ...args);
    expect(out.code).toBe(0);
    expect(out.output).toContain('library/multi:latest (linux/amd64, linux/arm64)');
    expect(out.output.match(/^docker\.io\/library\/node:17-alpine: /gm)).toHaveLength(1);
    expect(out.output).toMatch(/warmed 2 image\(s\): 4 manifest\(s\), 7 blob\(s\)/);
  });

  it('names the file and line of a bad reference in --from-file, and a bad --build-arg', async () => {
    writeFileSync(join(dir, 'images.txt'), 'node:17-alpine\n# a comment\nNot/A:Valid:Ref\n');
    const bad = await runCli('warm', '--from-file', join(dir, 'images.txt'));
    expect(bad.code).toBe(2);
    expect(bad.output).toContain(`cargohold: ${join(dir, 'images.txt')}:3: `);
    const arg = await runCli('warm', '--dockerfile', join(dir, 'images.txt'), '--build-arg', 'novalue');
    expect(arg.code).toBe(2);
    expect(arg.output).toContain("--build-arg wants NAME=VALUE, got 'novalue'");
  });

  it('does not download a blob twice when serve and warm want it at the same time', async () => {
    const layer = node.layers[0]!;
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 100_000, release: new Promise<void>((r) => (release = r)) });
    const server = cli('serve', '--listen', '127.0.0.1:0');
    const base = `http://127.0.0.1:${await server.port()}`;
    const viaServer = http(base, `/v2/library/node/blobs/${layer.digest}`);
    await waitFor(() => hub.count({ server: 'cdn', path: new RegExp(layer.digest) }) === 1);
    const warm = cli('warm', 'node:17-alpine');
    await waitFor(() => warm.output().includes('library/node:17-alpine: '));
    release();
    expect((await viaServer).sha256()).toBe(layer.digest);
    expect((await warm.exited).code).toBe(0);
    expect(hub.count({ server: 'cdn', path: new RegExp(layer.digest) })).toBe(1);
  });

  it('reports a missing image, a bad reference and a bad platform clearly', async () => {
    const missing = await runCli('warm', 'nothere:1');
    expect(missing.code).toBe(1);
    expect(missing.output).toMatch(/library\/nothere:1: failed: upstream: manifest not found/);
    const before = hub.requests.length;
    const bad = await runCli('warm', 'ghcr.io/x/y:1');
    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/ghcr\.io\/x\/y:1: failed: no upstream is configured for registry "ghcr\.io"/);
    expect(hub.requests.length).toBe(before);
    const platform = await runCli('warm', 'multi', '--platform', 'linux/s390x');
    expect(platform.code).toBe(1);
    expect(platform.output).toMatch(/no manifest for platform linux\/s390x/);
    const none = await runCli('warm');
    expect(none.code).toBe(2);
  });
});

describe('cargohold pin / pins / unpin', () => {
  it('pins warm the image and are listed until unpinned', async () => {
    const pinned = await runCli('pin', 'node:17-alpine');
    expect(pinned.code).toBe(0);
    expect(pinned.output).toContain('pinned docker.io/library/node:17-alpine');
    expect(hub.count({ server: 'cdn' })).toBe(node.blobs.length);
    expect((await runCli('pins')).output).toMatch(/^docker\.io\/library\/node:17-alpine\t\d{4}-/m);
    expect((await runCli('unpin', 'node:17-alpine')).code).toBe(0);
    expect((await runCli('pins')).output.trim()).toBe('');
    const again = await runCli('unpin', 'node:17-alpine');
    expect(again.code).toBe(1);
    expect(again.output).toContain('was not pinned');
  });
});

describe('serve and warm on one data dir', () => {
  /** serve running, a 1 MiB layer whose upstream pauses at 300 000 bytes, and warm asked for it. */
  async function warmThroughServer() {
    const layer = randomLayer(1024 * 1024);
    hub.push('library/big', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 300_000, release: new Promise<void>((r) => (release = r)) });
    const server = cli('serve', '--listen', '127.0.0.1:0');
    const base = `http://127.0.0.1:${await server.port()}`;
    const warm = cli('warm', 'big');
    await waitFor(() => hub.count({ server: 'cdn', path: new RegExp(layer.digest) }) === 1);
    return { layer, release, server, base, warm };
  }

  it("warm beside serve goes through the server's admin API: progress streams from it, one upstream GET, a client streams the same fill", async () => {
    const { layer, release, server, base, warm } = await warmThroughServer();
    // The server does the work: its log has the admin request, and warm's progress arrived while the upstream is paused.
    await waitFor(() => warm.output().includes('library/big:latest: '), 10_000, 'warm progress');
    expect(server.output()).toContain('"msg":"admin: warm"');
    const { Agent } = await import('undici');
    const agent = new Agent();
    try {
      const res = await agent.request({ origin: base, path: `/v2/library/big/blobs/${layer.digest}`, method: 'GET' });
      expect(res.statusCode).toBe(200);
      const chunks: Buffer[] = [];
      let received = 0;
      const reading = (async () => {
        for await (const chunk of res.body) {
          chunks.push(chunk as Buffer);
          received += (chunk as Buffer).length;
        }
      })();
      await waitFor(() => received >= 200_000);
      release();
      await reading;
      expect(createHash('sha256').update(Buffer.concat(chunks)).digest('hex')).toBe(layer.digest.slice(7));
    } finally {
      await agent.close();
    }
    expect((await warm.exited).code).toBe(0);
    expect(warm.output()).toMatch(/warmed 1 image\(s\): 1 manifest\(s\), 2 blob\(s\); fetched [\d.]+ MB/);
    expect(hub.count({ server: 'cdn', path: new RegExp(layer.digest) })).toBe(1);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('warm killed mid-download: the server finishes the fill and stores the blob; nothing is fetched twice', async () => {
    const { layer, release, server, base, warm } = await warmThroughServer();
    warm.child.kill('SIGKILL');
    await warm.exited;
    release();
    const stored = () =>
      server
        .output()
        .split('\n')
        .some((line) => line.includes('"msg":"blob stored"') && line.includes(layer.digest));
    await waitFor(stored, 10_000, 'the server to store the blob');
    const res = await http(base, `/v2/library/big/blobs/${layer.digest}`);
    expect([res.status, res.sha256(), res.headers['x-cargohold-cache']]).toEqual([200, layer.digest, 'hit']);
    expect(hub.count({ server: 'cdn', path: new RegExp(layer.digest) })).toBe(1);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('with no server, warm works on the data dir directly; a server started meanwhile waits for it, then serves what it stored', async () => {
    const layer = randomLayer(1024 * 1024);
    hub.push('library/big', 'latest', image([layer]));
    let release!: () => void;
    hub.blobBehaviour.set(layer.digest, { pauseAfter: 300_000, release: new Promise<void>((r) => (release = r)) });
    const warm = cli('warm', 'big');
    await waitFor(() => hub.count({ server: 'cdn', path: new RegExp(layer.digest) }) === 1);
    const server = cli('serve', '--listen', '127.0.0.1:0');
    await waitFor(() => server.output().includes('waiting for the data dir lease held by another process'), 10_000, 'serve to wait');
    expect(server.output()).toContain('working directly on the data dir');
    expect(server.output()).not.toContain('cargohold listening');
    release();
    expect((await warm.exited).code).toBe(0);
    const base = `http://127.0.0.1:${await server.port()}`;
    await hub.stopRegistry();
    const res = await http(base, `/v2/library/big/blobs/${layer.digest}`);
    expect([res.status, res.sha256(), res.headers['x-cargohold-cache']]).toEqual([200, layer.digest, 'hit']);
    expect(hub.count({ server: 'cdn', path: new RegExp(layer.digest) })).toBe(1);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('a second server on the same data dir refuses to start, naming the one running', async () => {
    const first = cli('serve', '--listen', '127.0.0.1:0');
    await first.port();
    const second = await runCli('serve', '--listen', '127.0.0.1:0');
    expect(second.code).toBe(1);
    expect(second.output).toMatch(
      /cannot start: another server uses this data dir \(.*\): cargohold serve on 127\.0\.0\.1:0 \(host .*\); stop it or use another --data-dir/,
    );
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
  });
});
