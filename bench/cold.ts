import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { concurrentDownloads, skopeoPull } from './load.js';
import { logMark, peakRssMb, upstreamBlobGets, waitLogQuiet } from './measure.js';
import type { MemoryScenario, Results } from './results.js';
import { startCargohold, startRegistry, type Server } from './setup.js';
import { blobUrl, pushRandomBlob, type World } from './world.js';

/** A fresh (cold) server on a new data dir, removed with the server. */
export async function coldServer(world: World, kind: 'cargohold' | 'proxy'): Promise<Server> {
  const dir = world.ws.dir(`${kind}-cold`);
  const server =
    kind === 'cargohold'
      ? await startCargohold(world.ws, { dataDir: join(dir, 'data'), upstream: world.upstream.url })
      : await startRegistry(world.ws, dir, world.upstream.url);
  return {
    ...server,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Scenario 2: `skopeo copy` of library/big:latest with nothing cached, straight from the
 * upstream vs through cargohold: a process started for this pull (its JIT compiles the
 * code paths as the bytes flow), and a running one (warmed by pulling another image
 * first, as a mirror that has served anything before is).
 */
export async function coldPull(world: World, results: Results): Promise<void> {
  const reference = 'library/big:latest';
  for (let run = 0; run < world.runs; run++) {
    const viaCargohold = async () => {
      const server = await coldServer(world, 'cargohold');
      try {
        results.coldPull.cargohold.push((await skopeoPull(server.host, reference, world.ws.dir('pull'))) / 1000);
      } finally {
        await server.stop();
      }
    };
    const viaRunningCargohold = async () => {
      const server = await coldServer(world, 'cargohold');
      try {
        await skopeoPull(server.host, world.warmup, world.ws.dir('pull'));
        results.coldPull.cargoholdRunning.push((await skopeoPull(server.host, reference, world.ws.dir('pull'))) / 1000);
      } finally {
        await server.stop();
      }
    };
    const direct = async () => {
      results.coldPull.direct.push((await skopeoPull(world.upstream.host, reference, world.ws.dir('pull'))) / 1000);
    };
    // Alternate the order, so no path always runs first.
    for (const step of run % 2 === 0 ? [viaCargohold, direct, viaRunningCargohold] : [viaRunningCargohold, direct, viaCargohold]) await step();
  }
}

interface ColdRun {
  wallMs: number;
  upstreamBytes: number;
  upstreamGets: number;
  rssMb: number;
}

/**
 * N clients at once on one blob of a cold server: wall time, the blob bytes the
 * upstream sent (its access log, after the server has gone quiet), and peak RSS.
 */
async function coldClients(
  world: World,
  kind: 'cargohold' | 'proxy',
  blob: { repository: string; digest: string; size: number },
  clients: number,
): Promise<ColdRun> {
  const log = world.upstream.distribution.logFile;
  const server = await coldServer(world, kind);
  try {
    const mark = logMark(log);
    const wallMs = await concurrentDownloads(blobUrl(server.url, blob), clients, blob.size);
    await waitLogQuiet(log, 1500);
    const rssMb = peakRssMb(server.pid);
    await server.stop();
    const sent = upstreamBlobGets(log, mark);
    return { wallMs, upstreamBytes: sent.bytes, upstreamGets: sent.count, rssMb };
  } finally {
    await server.stop();
  }
}

/** Scenario 3: 20 concurrent clients vs 1 client on the big blob, each on a cold server. */
export async function coldConcurrent(world: World, results: Results): Promise<void> {
  for (let run = 0; run < world.runs; run++) {
    for (const kind of ['cargohold', 'proxy'] as const) {
      const out = results.cold[kind];
      const one = await coldClients(world, kind, world.big, 1);
      out.t1.push(one.wallMs / 1000);
      out.bytes1.push(one.upstreamBytes);
      const twenty = await coldClients(world, kind, world.big, 20);
      out.t20.push(twenty.wallMs / 1000);
      out.bytes20.push(twenty.upstreamBytes);
      out.gets20.push(twenty.upstreamGets);
      out.rss20.push(twenty.rssMb);
    }
  }
}

/**
 * Memory: 20 clients on a large blob served by cargohold, once cached (filled by one
 * GET, then a restart so VmHWM is the 20 clients') and once cold (20 readers follow one fill).
 */
export async function memoryScenario(world: World, bytes: number): Promise<MemoryScenario> {
  const clients = 20;
  const blob = await pushRandomBlob(world, 'library/huge', bytes);
  const dir = world.ws.dir('cargohold-huge');
  const options = { dataDir: dir, upstream: world.upstream.url };
  let server = await startCargohold(world.ws, options);
  await concurrentDownloads(blobUrl(server.url, blob), 1, blob.size);
  await server.stop();
  server = await startCargohold(world.ws, options);
  let cachedWallMs: number;
  let cachedRss: number;
  try {
    cachedWallMs = await concurrentDownloads(blobUrl(server.url, blob), clients, blob.size);
    cachedRss = peakRssMb(server.pid);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const cold = await coldClients(world, 'cargohold', blob, clients);
  return { size: blob.size, clients, cachedWallMs, cachedRss, coldWallMs: cold.wallMs, coldRss: cold.rssMb, coldUpstreamBytes: cold.upstreamBytes };
}
