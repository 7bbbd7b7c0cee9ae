import { Workspace, startRegistry } from './setup.js';
import { createWorld, MANIFEST_ACCEPT } from './world.js';
import { wrk } from './load.js';
const ws = new Workspace();
try {
  const w = await createWorld(ws, { runs: 1, seconds: 3, bigBytes: 1024 * 1024 });
  const proxy = await startRegistry(ws, ws.dir('p'), w.upstream.url);
  for (const s of [w.upstream, proxy]) {
    for (const ref of [w.small.digest, 'latest']) {
      const url = `${s.url}/v2/library/small/manifests/${ref}`;
      await fetch(url, { headers: { accept: MANIFEST_ACCEPT.slice(8) } }).then((r) => r.arrayBuffer());
      for (const c of [1, 32]) {
        const r = await wrk(url, { threads: c === 1 ? 1 : 2, connections: c, seconds: 3, headers: [MANIFEST_ACCEPT] });
        console.log(s.name, ref.slice(0, 12), 'c' + c, r.requestsPerSec, r.failures);
      }
    }
  }
} finally { await ws.close(); }
