import { join } from 'node:path';
import { startNodeFlags } from '../test/support/cli-process.js';
import { freePort, startDaemon, type Daemon } from '../test/support/peers.js';
import { waitFor } from '../test/support/wait.js';
import { concurrentDownloads, timedDownload, wrk } from './load.js';
import { Workspace } from './setup.js';
import { blobUrl, createWorld, type World } from './world.js';

/**
 * Two builds of cargohold side by side on one upstream, runs alternated: a regression
 * check between commits.
 *   git worktree add /tmp/old <rev> && (cd /tmp/old && ln -s $PWD/node_modules . && npx tsc -p tsconfig.build.json)
 *   AB_OLD=/tmp/old/dist/cli/index.js N=5 node --import tsx bench/ab-builds.ts
 * AB_MODE=warm (default): median GB/s (and every run) of wrk -t1 -c1 and -t2 -c32 on the
 * 200 MiB blob, each build warmed once. AB_MODE=cold: seconds of one curl GET of it through
 * a fresh process and data dir per run (scenario 7's "started for it").
 */
const OLD = process.env.AB_OLD ?? '/tmp/ab-old/dist/cli/index.js';
const NOW = join(import.meta.dirname, '..', 'dist', 'cli', 'index.js');
const RUNS = Number(process.env.N ?? 5);

async function start(ws: Workspace, world: World, entry: string, name: string): Promise<{ url: string; daemon: Daemon }> {
  const port = await freePort();
  const dir = ws.dir(`ab-${name}`);
  const args = ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dir, '--upstream', world.upstream.url, '--log-level', 'warn'];
  const daemon = startDaemon(process.execPath, [...startNodeFlags(), entry, ...args], join(dir, 'log'));
  ws.defer(() => daemon.stop());
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/v2/`).catch(() => undefined))?.status === 200, 15_000, `${name} to answer`);
  return { url, daemon };
}

const ws = new Workspace();
try {
  const world = await createWorld(ws, { runs: 1, seconds: 5, bigBytes: 200 * 1024 * 1024 });
  const builds: Record<string, string> = { old: OLD, now: NOW };
  const out: Record<string, number[]> = {};
  const order = (i: number) => (i % 2 ? ['now', 'old'] : ['old', 'now']);
  if (process.env.AB_MODE === 'cold') {
    for (let i = 0; i < RUNS; i++) {
      for (const name of order(i)) {
        const server = await start(ws, world, builds[name] as string, name);
        (out[`${name} cold s`] ??= []).push((await timedDownload(blobUrl(server.url, world.big), world.big.size)).total);
        await server.daemon.stop();
      }
    }
  } else {
    const urls: Record<string, string> = {};
    for (const [name, entry] of Object.entries(builds)) {
      urls[name] = (await start(ws, world, entry, name)).url;
      await concurrentDownloads(blobUrl(urls[name], world.big), 1, world.big.size);
    }
    for (let i = 0; i < RUNS; i++) {
      for (const name of order(i)) {
        for (const [key, opts] of [
          ['c1', { threads: 1, connections: 1, seconds: 5 }],
          ['c32', { threads: 2, connections: 32, seconds: 5 }],
        ] as const) {
          const r = await wrk(blobUrl(urls[name] as string, world.big), opts);
          (out[`${name} ${key} GB/s`] ??= []).push(r.bytesPerSec / 1e9);
        }
      }
    }
  }
  const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
  for (const [k, v] of Object.entries(out).sort()) console.log(k.padEnd(14), median(v).toFixed(3), `(${v.map((x) => x.toFixed(3)).join(' ')})`);
} finally {
  await ws.close();
}
