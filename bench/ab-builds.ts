import { join } from 'node:path';
import { startNodeFlags } from '../test/support/cli-process.js';
import { freePort, startDaemon } from '../test/support/peers.js';
import { Workspace } from './setup.js';
import { createWorld, blobUrl } from './world.js';
import { concurrentDownloads, wrk } from './load.js';
/**
 * Warm blob throughput of two builds of cargohold, side by side on one upstream, runs
 * alternated (a regression check between commits):
 *   git worktree add /tmp/old <rev> && (cd /tmp/old && ln -s $PWD/node_modules . && npx tsc -p tsconfig.build.json)
 *   AB_OLD=/tmp/old/dist/cli/index.js N=5 node --import tsx bench/ab-builds.ts
 * Prints the median GB/s (and every run) of wrk -t1 -c1 and -t2 -c32 on the 200 MiB blob.
 */
const ws = new Workspace();
try {
  const world = await createWorld(ws, { runs: 1, seconds: 5, bigBytes: 200 * 1024 * 1024 });
  const variants: Record<string, string> = {
    old: process.env.AB_OLD ?? '/tmp/ab-old/dist/cli/index.js',
    now: join(import.meta.dirname, '..', 'dist', 'cli', 'index.js'),
  };
  const urls: Record<string, string> = {};
  for (const [name, entry] of Object.entries(variants)) {
    const port = await freePort();
    const dir = ws.dir(`ab-${name}`);
    const d = startDaemon(
      process.execPath,
      [
        ...startNodeFlags(),
        entry,
        'serve',
        '--listen',
        `127.0.0.1:${port}`,
        '--data-dir',
        dir,
        '--upstream',
        world.upstream.url,
        '--log-level',
        'warn',
      ],
      join(dir, 'log'),
    );
    ws.defer(() => d.stop());
    await new Promise((r) => setTimeout(r, 1500));
    urls[name] = `http://127.0.0.1:${port}`;
    await concurrentDownloads(blobUrl(urls[name], world.big), 1, world.big.size);
  }
  const out: Record<string, number[]> = {};
  for (let i = 0; i < Number(process.env.N ?? 5); i++) {
    for (const name of i % 2 ? ['now', 'old'] : ['old', 'now']) {
      for (const [key, opts] of [
        ['c1', { threads: 1, connections: 1, seconds: 5 }],
        ['c32', { threads: 2, connections: 32, seconds: 5 }],
      ] as const) {
        const r = await wrk(blobUrl(urls[name]!, world.big), opts);
        (out[`${name} ${key}`] ??= []).push(r.bytesPerSec / 1e9);
      }
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  for (const [k, v] of Object.entries(out).sort()) console.log(k.padEnd(8), med(v).toFixed(2), v.map((x) => x.toFixed(2)).join(' '));
} finally {
  await ws.close();
}
