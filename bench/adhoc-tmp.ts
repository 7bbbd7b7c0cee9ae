import { Workspace, startCargohold } from './setup.js';
import { createWorld, MANIFEST_ACCEPT } from './world.js';
import { wrk, headLoad } from './load.js';
import { peakRssMb } from './measure.js';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
const ws = new Workspace();
async function getLoad(url: string, conns: number, secs: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: conns });
  let ok = 0; const st = performance.now(); const dl = st + secs * 1000;
  const once = () => new Promise<void>((res, rej) => { const r = request(url, { agent, headers: { accept: MANIFEST_ACCEPT.slice(8) } }, (x) => { x.resume(); x.once('end', () => res()); }); r.once('error', rej); r.end(); });
  await Promise.all(Array.from({ length: conns }, async () => { while (performance.now() < dl) { await once(); ok++; } }));
  agent.destroy(); return ok / ((performance.now() - st) / 1000);
}
try {
  const w = await createWorld(ws, { runs: 1, seconds: 3, bigBytes: 1024 * 1024 });
  const c = await startCargohold(ws, { dataDir: ws.dir('c'), upstream: w.upstream.url });
  const rss = () => readFileSync(`/proc/${c.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1];
  console.log('idle VmHWM', peakRssMb(c.pid), 'VmRSS kB', rss());
  const url = `${c.url}/v2/library/small/manifests/latest`;
  await fetch(url, { headers: { accept: MANIFEST_ACCEPT.slice(8) } }).then((r) => r.arrayBuffer());
  console.log('after 1 GET VmHWM', peakRssMb(c.pid));
  console.log('wrk GET', (await wrk(url, { threads: 2, connections: 32, seconds: 3, headers: [MANIFEST_ACCEPT] })).requestsPerSec);
  console.log('node GET', await getLoad(url, 32, 3));
  console.log('node HEAD', (await headLoad(url, { connections: 32, seconds: 3, headers: { accept: MANIFEST_ACCEPT.slice(8) } })));
  console.log('after load VmHWM', peakRssMb(c.pid), 'VmRSS kB', rss());
} finally { await ws.close(); }
