import { join } from 'node:path';
import { startNodeFlags } from '../test/support/cli-process.js';
import { run } from '../test/support/peers.js';
import { coldServer } from './cold.js';
import { timedDownload } from './load.js';
import { waitLogQuiet } from './measure.js';
import type { ColdOnePath, Results } from './results.js';
import { startNodeRelay, type RelayMode } from './setup.js';
import { blobUrl, type World } from './world.js';

/** Chunk sizes the floor is fed in: undici's socket reads (up to 64 KiB) and the pump's reads. */
const FLOOR_CHUNKS = [64 * 1024, 256 * 1024];

/**
 * Seconds one Node.js process (fresh, `npm start`'s flags) takes to sha256 the blob held in
 * memory, per chunk size. cargohold verifies every byte before the last one goes out, so no
 * cold GET through it can take less: the figure the cold single-client goal is measured against.
 */
async function sha256Floor(world: World, chunks: number[]): Promise<Record<number, number>> {
  const script = join(import.meta.dirname, 'sha256-floor.mjs');
  const args = [...startNodeFlags(), script, world.upstreamBlobFile(world.big.digest), world.big.digest, ...chunks.map(String)];
  const { stdout } = await run(process.execPath, args);
  const ms = JSON.parse(stdout) as Record<string, number>;
  return Object.fromEntries(chunks.map((c) => [c, (ms[c] as number) / 1000]));
}

/**
 * Scenario 7: one `curl -o /dev/null` GET of the big blob with nothing cached, by curl's
 * clock, through a cargohold started for it, through a running one (fresh data dir, but it
 * served the 32 MiB warmup blob cold first, so the fill and serve paths are compiled),
 * straight from the upstream, through distribution's proxy (fresh storage) and through three
 * plain Node relays (bench/node-relay.mjs); and the sha256 floor in the same run, under the same load.
 */
export async function coldOne(world: World, results: Results): Promise<void> {
  const out = results.coldOne;
  const big = world.big;
  const record = async (path: ColdOnePath, url: string) => {
    const t = await timedDownload(url, big.size);
    out.total[path].push(t.total);
    out.ttfb[path].push(t.ttfb);
  };
  const started = async () => {
    const server = await coldServer(world, 'cargohold');
    try {
      await record('cargohold', blobUrl(server.url, big));
    } finally {
      await server.stop();
    }
  };
  const running = async () => {
    const server = await coldServer(world, 'cargohold');
    try {
      await timedDownload(blobUrl(server.url, world.warmupBlob), world.warmupBlob.size);
      await record('cargoholdRunning', blobUrl(server.url, big));
    } finally {
      await server.stop();
    }
  };
  const direct = () => record('direct', blobUrl(world.upstream.url, big));
  const proxy = async () => {
    const server = await coldServer(world, 'proxy');
    try {
      await record('proxy', blobUrl(server.url, big));
      // distribution's proxy goes on fetching after its client has the bytes (it sent the
      // upstream 2x the blob for one client in scenario 3): let it finish before the next step.
      await waitLogQuiet(world.upstream.distribution.logFile, 1500);
    } finally {
      await server.stop();
    }
  };
  // What Node itself costs on this path: plain relays, each a fresh process, nothing stored.
  const relay = (mode: RelayMode, path: ColdOnePath) => async () => {
    const server = await startNodeRelay(world.ws, world.upstream.url, mode);
    try {
      await record(path, blobUrl(server.url, big));
    } finally {
      await server.stop();
    }
  };
  const floor = async () => {
    // Alternate which chunk size is hashed first in the process.
    const chunks = out.floor.length % 2 === 1 ? [...FLOOR_CHUNKS].reverse() : FLOOR_CHUNKS;
    const s = await sha256Floor(world, chunks);
    const [small, large] = FLOOR_CHUNKS as [number, number];
    out.hash64k.push(s[small] as number);
    out.hash256k.push(s[large] as number);
    // The floor is the faster way to feed the hash: no goal can then sit below either.
    out.floor.push(Math.min(s[small] as number, s[large] as number));
  };
  const steps = [started, running, direct, proxy, floor, relay('http', 'relayHttp'), relay('hash', 'relayHash'), relay('pipe', 'relayPipe')];
  for (let runIndex = 0; runIndex < world.runs; runIndex++) {
    // Rotate the order, so no path always runs first (or right after the proxy's background fetch).
    for (let i = 0; i < steps.length; i++) await (steps[(i + runIndex) % steps.length] as () => Promise<void>)();
  }
}
