import { hasTool } from '../test/support/peers.js';
import { abHead, concurrentDownloads, wrk, type WrkOptions } from './load.js';
import { logMark, peakRssMb, upstreamBlobGets, upstreamManifestRequests, waitLogQuiet } from './measure.js';
import type { ManifestCase, ManifestServer, Results } from './results.js';
import { childPids, startCargohold, startNginx, startNodeFileServer, startRegistry, type Server } from './setup.js';
import { blobUrl, MANIFEST_ACCEPT, type World } from './world.js';

/** Servers left running by the throughput scenario, already warm, for the manifest scenario. */
export interface WarmServers {
  cargohold: Server;
  proxy: Server;
  cargoholdDir: string;
}

/**
 * Scenario 1: warm blob throughput. cargohold and the distribution proxy are warmed
 * with one full GET, then restarted (so VmHWM is this scenario's); nginx serves
 * cargohold's own blob file with sendfile, and a plain node:http server serves it from
 * one Node process (what Node itself can do here, without any registry logic).
 */
export async function warmThroughput(world: World, results: Results): Promise<WarmServers> {
  const { ws, upstream, big } = world;
  const upstreamLog = upstream.distribution.logFile;
  const cargoholdDir = ws.dir('cargohold-warm');
  const proxyDir = ws.dir('proxy-warm');
  for (const start of [
    () => startCargohold(ws, { dataDir: cargoholdDir, upstream: upstream.url }),
    () => startRegistry(ws, proxyDir, upstream.url),
  ]) {
    const server = await start();
    await concurrentDownloads(blobUrl(server.url, big), 1, big.size);
    await waitLogQuiet(upstreamLog, 1500);
    await server.stop();
  }
  const servers = {
    cargohold: await startCargohold(ws, { dataDir: cargoholdDir, upstream: upstream.url }),
    nginx: await startNginx(ws, cargoholdDir),
    node: await startNodeFileServer(ws, cargoholdDir),
    proxy: await startRegistry(ws, proxyDir, upstream.url),
  };
  const idle = peakRssMb(servers.cargohold.pid);
  const mark = logMark(upstreamLog);
  for (const server of Object.values(servers)) await concurrentDownloads(blobUrl(server.url, big), 1, big.size);
  const configs: Array<['c1' | 'c32', WrkOptions]> = [
    ['c1', { threads: 1, connections: 1, seconds: world.seconds }],
    ['c32', { threads: 2, connections: 32, seconds: world.seconds }],
  ];
  for (let run = 0; run < world.runs; run++) {
    for (const [name, server] of Object.entries(servers) as Array<[keyof typeof servers, Server]>) {
      for (const [key, opts] of configs) {
        const result = await wrk(blobUrl(server.url, big), opts);
        if (result.failures > 0) results.notes.push(`scenario 1: ${name} ${key} run ${run + 1}: ${result.failures} failed requests`);
        results.throughput[name][key].push(result.bytesPerSec / 1e9);
      }
    }
  }
  const refetched = upstreamBlobGets(upstreamLog, mark);
  if (refetched.count > 0) results.notes.push(`scenario 1: the upstream served ${refetched.count} blob GETs while the servers were warm`);
  const workers = childPids(servers.nginx.pid).map(peakRssMb);
  results.warmRss = {
    cargoholdIdle: idle,
    cargohold: peakRssMb(servers.cargohold.pid),
    proxy: peakRssMb(servers.proxy.pid),
    nginx: Math.max(0, ...workers),
  };
  await servers.nginx.stop();
  await servers.node.stop();
  return { cargohold: servers.cargohold, proxy: servers.proxy, cargoholdDir };
}

const CASES: ManifestCase[] = ['headTag', 'getTag', 'getDigest'];
const ACCEPT = MANIFEST_ACCEPT.slice('Accept: '.length);

/**
 * Scenario 4: warm manifests on library/small, 32 connections: GET by tag and by
 * digest with wrk -t2 -c32, HEAD by tag with ab -k -c32 (wrk cannot do HEAD). cargohold runs with its default tag TTL (latest: 60 s, no upstream
 * request while fresh), with TTL 0 (one upstream HEAD per request by tag, as the
 * distribution proxy does), and once at log level info (one access-log line per request).
 */
export async function warmManifests(world: World, warm: WarmServers, results: Results): Promise<void> {
  const { ws, upstream, small } = world;
  const url = (server: Server, c: ManifestCase) => `${server.url}/v2/${small.repository}/manifests/${c === 'getDigest' ? small.digest : small.tag}`;
  const haveAb = hasTool('ab');
  if (!haveAb) results.notes.push('scenario 4: HEAD by tag skipped: ab missing (apt-get install apache2-utils)');
  const measure = async (name: ManifestServer, server: Server, cases: ManifestCase[]) => {
    for (const c of cases.filter((k) => k !== 'headTag' || haveAb)) {
      await warmManifest(url(server, c));
      const mark = logMark(upstream.distribution.logFile);
      const result =
        c === 'headTag'
          ? await abHead(url(server, c), { connections: 32, seconds: world.seconds, headers: [MANIFEST_ACCEPT] })
          : await wrk(url(server, c), { threads: 2, connections: 32, seconds: world.seconds, headers: [MANIFEST_ACCEPT] });
      if (result.failures > 0) results.notes.push(`scenario 4: ${name} ${c}: ${result.failures} failed requests`);
      (results.manifests[name][c] ??= []).push(result.requestsPerSec);
      const upstreamRequests = upstreamManifestRequests(upstream.distribution.logFile, mark);
      (results.manifestUpstream[name][c] ??= []).push(upstreamRequests / Math.max(1, result.requests));
    }
  };
  for (let run = 0; run < world.runs; run++) {
    await measure('cargohold', warm.cargohold, CASES);
    await measure('proxy', warm.proxy, CASES);
  }
  await warm.cargohold.stop();
  await warm.proxy.stop();
  const variants: Array<[ManifestServer, Parameters<typeof startCargohold>[1], ManifestCase[]]> = [
    ['cargohold-ttl0', { dataDir: warm.cargoholdDir, upstream: upstream.url, revalidateTags: true }, ['headTag', 'getTag']],
    ['cargohold-info', { dataDir: warm.cargoholdDir, upstream: upstream.url, logLevel: 'info' }, ['getTag', 'getDigest']],
  ];
  for (const [name, options, cases] of variants) {
    const server = await startCargohold(ws, options);
    for (let run = 0; run < world.runs; run++) await measure(name, server, cases);
    await server.stop();
  }
}

/** One GET with the manifest Accept header, so the first wrk request is not the miss. */
async function warmManifest(url: string): Promise<void> {
  const res = await fetch(url, { headers: { accept: ACCEPT } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
}
