import { canonicalHost, DOCKER_HUB, looksLikeHost } from '../core/namespace.js';
import { pino } from 'pino';
import { runGc, type GcResult } from '../maintenance/run-gc.js';
import type { StoreStats } from '../maintenance/stats.js';
import { collectStats } from '../maintenance/stats.js';
import type { VerifyProgress, VerifyReport } from '../maintenance/verify.js';
import type { ImageEntry } from '../ports/metadata-repo.js';
import { createLogger } from '../util/logger.js';
import { configFrom, parseCommand, STORE_OPTIONS, UsageError, type Values } from './common.js';
import { onDataDir, onMetadata } from './data-dir.js';
import { formatBytes } from './progress.js';

const JSON_OPTION = { json: { type: 'boolean' } } as const;

function setup(values: Values, env: NodeJS.ProcessEnv) {
  const config = configFrom(values, env);
  const logger = createLogger((values['log-level'] as string | undefined) ?? 'warn', pino.destination(2));
  return { config, logger };
}

const print = (line: string) => process.stdout.write(`${line}\n`);

/** `cargohold gc [--dry-run]`: the cache policy's eviction, then garbage collection; what it frees. */
export async function gcCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseCommand(args, { ...STORE_OPTIONS, ...JSON_OPTION, 'dry-run': { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError('gc takes no arguments');
  const dryRun = values['dry-run'] === true;
  const { config, logger } = setup(values, env);
  const result: GcResult = await onDataDir(config, logger, {
    remote: (client) => client.gc(dryRun),
    local: (services) => runGc(services, dryRun),
  });
  if (values.json === true) {
    print(JSON.stringify(result));
    return 0;
  }
  const { eviction, gc, store } = result;
  const would = dryRun ? 'would free' : 'freed';
  const freed = eviction.evictedBytes + gc.unreferenced.bytes;
  print(`${dryRun ? 'dry run: ' : ''}${would} ${formatBytes(freed)}`);
  print(
    `  evicted by the cache policy: ${eviction.evicted} blobs, ${formatBytes(eviction.evictedBytes)}${eviction.skippedInUse ? ` (${eviction.skippedInUse} in use, kept)` : ''}`,
  );
  print(`  unreferenced blobs: ${gc.unreferenced.blobs}, ${formatBytes(gc.unreferenced.bytes)}`);
  print(`  records of missing blobs: ${gc.missing}`);
  print(`  unrecorded blobs: ${gc.orphans.recorded} verified and recorded, ${gc.orphans.removed} corrupt removed`);
  if (!dryRun) print(`  temp files of dead fills: ${gc.temps}`);
  print(`store${dryRun ? ' after, about' : ''}: ${store.blobs} blobs, ${formatBytes(store.bytes)}`);
  return 0;
}

/** `cargohold verify [--repair]`: re-hashes every blob; exit 1 when something is wrong and was not repaired. */
export async function verifyCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseCommand(args, { ...STORE_OPTIONS, ...JSON_OPTION, repair: { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError('verify takes no arguments');
  const repair = values.repair === true;
  const { config, logger } = setup(values, env);
  const progress = new VerifyProgressLine(process.stderr, values.json === true);
  const report: VerifyReport = await onDataDir(config, logger, {
    remote: (client) => client.verify(repair, progress.update),
    local: (services) => services.maintenance.verify({ repair, onProgress: progress.update }),
  });
  progress.done();
  const problems = [...report.missing, ...report.corrupt, ...report.wrongSize].length;
  if (values.json === true) print(JSON.stringify(report));
  else {
    print(`checked ${report.checked} blobs, ${formatBytes(report.bytes)}`);
    const fixed = repair ? ' (forgotten: the next pull fetches it again)' : '';
    for (const digest of report.missing) print(`missing  ${digest}${fixed}`);
    for (const digest of report.corrupt) print(`corrupt  ${digest}${repair ? ' (removed)' : ''}`);
    for (const digest of report.wrongSize) print(`wrong size  ${digest}${repair ? ' (removed)' : ''}`);
    if (problems === 0) print('every blob verified');
    else if (!repair) print(`${problems} problem(s); run 'cargohold verify --repair' to remove them`);
  }
  return problems > 0 && !repair ? 1 : 0;
}

/** Progress of verify on stderr: one rewritten line on a terminal, a line every 10% otherwise; nothing with --json. */
class VerifyProgressLine {
  readonly #out: NodeJS.WriteStream;
  readonly #quiet: boolean;
  readonly #started = performance.now();
  #lastDecile = -1;
  #drawn = false;

  constructor(out: NodeJS.WriteStream, quiet: boolean) {
    this.#out = out;
    this.#quiet = quiet;
  }

  update = (p: VerifyProgress): void => {
    if (this.#quiet || p.totalBytes === 0) return;
    const fraction = Math.min(1, p.bytes / p.totalBytes);
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = seconds > 0 ? p.bytes / seconds : 0;
    const line = `verifying ${p.blobs}/${p.totalBlobs} blobs, ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)} (${(fraction * 100).toFixed(0)}%) at ${formatBytes(rate)}/s`;
    if (this.#out.isTTY) {
      this.#out.write(`\r${line}\x1b[K`);
      this.#drawn = true;
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile > this.#lastDecile) {
      this.#lastDecile = decile;
      this.#out.write(`${line}\n`);
    }
  };

  done(): void {
    if (this.#drawn) this.#out.write('\n');
  }
}

/** `cargohold stats`: what the store holds. */
export async function statsCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseCommand(args, { ...STORE_OPTIONS, ...JSON_OPTION });
  if (positionals.length > 0) throw new UsageError('stats takes no arguments');
  const stats: StoreStats = await onMetadata(configFrom(values, env), {
    remote: (client) => client.stats(),
    local: (metadata) => collectStats(metadata),
  });
  if (values.json === true) {
    print(JSON.stringify(stats));
    return 0;
  }
  const { inventory: inv } = stats;
  print(`repositories  ${inv.repositories}`);
  print(`tags          ${inv.tags}`);
  print(`manifests     ${inv.manifests}`);
  print(`blobs         ${inv.blobs}`);
  print(`stored        ${formatBytes(inv.bytes)}`);
  print(`pinned        ${stats.pins}`);
  print(`last pulled   ${stats.lastPulledAt === undefined ? 'never' : new Date(stats.lastPulledAt).toISOString()}`);
  const traffic = stats.traffic;
  if (traffic) {
    const r = traffic.responses;
    const ratio = traffic.hitRatio === undefined ? 'n/a' : `${(traffic.hitRatio * 100).toFixed(1)}%`;
    print(`since start   ${new Date(traffic.since).toISOString()} (the running server)`);
    print(`  responses   ${r.hit} hit, ${r.miss} miss, ${r.coalesced} coalesced, ${r.stale} stale; hit ratio ${ratio}`);
    print(`  served      ${formatBytes(traffic.bytesFromCache)} from the cache, ${formatBytes(traffic.bytesFromUpstream)} as fetched`);
  }
  if (stats.largest.length > 0) {
    print('largest images:');
    for (const image of stats.largest) print(`  ${image.repository}:${image.tag}  ${formatBytes(image.storedBytes)}`);
  }
  return 0;
}

/** `cargohold ls [REPO]`: tagged images, their stored bytes and when they were last pulled. */
export async function lsCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseCommand(args, { ...STORE_OPTIONS, ...JSON_OPTION });
  if (positionals.length > 1) throw new UsageError('ls takes at most one repository');
  const repository = positionals[0] === undefined ? undefined : normaliseRepository(positionals[0]);
  const images: ImageEntry[] = await onMetadata(configFrom(values, env), {
    remote: (client) => client.images(repository),
    local: (metadata) => metadata.listImages(repository),
  });
  if (values.json === true) {
    print(JSON.stringify(images));
    return 0;
  }
  for (const image of images) {
    print(`${image.repository}:${image.tag}\t${image.digest}\t${formatBytes(image.storedBytes)}\t${new Date(image.lastAccessAt).toISOString()}`);
  }
  if (images.length === 0 && repository !== undefined) {
    process.stderr.write(`nothing cached for ${repository}\n`);
    return 1;
  }
  return 0;
}

/** `node` → `docker.io/library/node`, `ghcr.io/foo/bar` as is: repositories are stored with their registry. */
function normaliseRepository(name: string): string {
  const slash = name.indexOf('/');
  const prefixed = slash > 0 && looksLikeHost(name.slice(0, slash));
  const host = prefixed ? canonicalHost(name.slice(0, slash)) : DOCKER_HUB;
  const remote = prefixed ? name.slice(slash + 1) : name;
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(remote)) throw new UsageError(`not a repository name: ${name}`);
  return `${host}/${host === DOCKER_HUB && !remote.includes('/') ? `library/${remote}` : remote}`;
}
