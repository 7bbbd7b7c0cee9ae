// Quick trial (not part of `npm run bench`): one cold client on the big blob, cargohold vs the
// upstream directly vs the distribution proxy, each N times, printed as seconds.
// node --import tsx bench/cold-one.ts [runs]
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { run } from '../test/support/peers.js';
import { startCargohold, startRegistry, Workspace } from './setup.js';
import { blobUrl, createWorld } from './world.js';

const runs = Number(process.argv[2] ?? 5);
const ws = new Workspace();
try {
  const world = await createWorld(ws, { runs, seconds: 5, bigBytes: 200 * 1024 * 1024 });
  const times: Record<string, string[]> = { direct: [], cargohold: [], proxy: [] };
  const fetchOnce = async (url: string) => (await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{time_starttransfer}/%{time_total}', url])).stdout.trim();
  for (let i = 0; i < runs; i++) {
    times.direct?.push(await fetchOnce(blobUrl(world.upstream.url, world.big)));
    const dir = ws.dir(`c${i}`);
    const c = await startCargohold(ws, { dataDir: join(dir, 'data'), upstream: world.upstream.url });
    times.cargohold?.push(await fetchOnce(blobUrl(c.url, world.big)));
    const stopAt = performance.now();
    await c.stop();
    console.log('cargohold stop ms', Math.round(performance.now() - stopAt));
    const p = await startRegistry(ws, join(dir, 'proxy'), world.upstream.url);
    times.proxy?.push(await fetchOnce(blobUrl(p.url, world.big)));
    await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [k, v] of Object.entries(times)) console.log(k, v.join(' '));
} finally {
  await ws.close();
}
