import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { createLogger } from '../util/logger.js';
import { parentImages } from '../warm/dockerfile.js';
import { hostPlatform, parsePlatform, type ImageRef, type Platform } from '../warm/image-ref.js';
import { runWarmJob, type WarmJobEvent, type WarmRequest } from '../warm/warm-job.js';
import { configFrom, imageRefOrUsage, parseCommand, STORE_OPTIONS, UsageError, type Values } from './common.js';
import { onDataDir } from './data-dir.js';
import { WarmProgress } from './progress.js';

const WARM_OPTIONS = {
  ...STORE_OPTIONS,
  platform: { type: 'string', multiple: true },
  'all-platforms': { type: 'boolean' },
  dockerfile: { type: 'string', multiple: true },
  'from-file': { type: 'string', multiple: true },
  concurrency: { type: 'string' },
  refresh: { type: 'boolean' },
  'build-arg': { type: 'string', multiple: true },
} as const;

interface Target {
  ref: ImageRef;
  platforms: Platform[] | 'all';
}

export const warmCommand = (args: string[], env: NodeJS.ProcessEnv) => warmOrPin(args, env, false);
export const pinCommand = (args: string[], env: NodeJS.ProcessEnv) => warmOrPin(args, env, true);

/**
 * `cargohold warm` (and `pin`, which also records the pin): whole images into the cache,
 * through the running server when there is one (progress streamed from it), else directly.
 */
async function warmOrPin(args: string[], env: NodeJS.ProcessEnv, pin: boolean): Promise<number> {
  const { values, positionals } = parseCommand(args, WARM_OPTIONS);
  const targets = collectTargets(values, positionals);
  const concurrency = values.concurrency === undefined ? 4 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
    throw new UsageError('--concurrency must be a whole number from 1 to 64');
  const config = configFrom(values, env);
  const logger = createLogger((values['log-level'] as string | undefined) ?? 'warn', pino.destination(2), config.logFormat);
  const request: WarmRequest = {
    targets: targets.map((t) => ({ image: t.ref.display, platforms: t.platforms })),
    concurrency,
    pin,
    refresh: values.refresh === true,
  };
  const progress = new WarmProgress(process.stderr);
  let failed = 0;
  const onEvent = (event: WarmJobEvent) => {
    if (event.kind === 'failed') progress.error(event.image, event.message);
    else if (event.kind === 'pinned') process.stdout.write(`pinned ${event.images.join(', ')}\n`);
    else if (event.kind === 'summary') {
      failed = event.failed;
      progress.summary(event.summary, event.failed);
    } else progress.onEvent(event);
  };
  await onDataDir(config, logger, {
    remote: (client) => client.warm(request, onEvent),
    local: (services) => runWarmJob(services, request, onEvent),
  });
  return failed > 0 ? 1 : 0;
}

function collectTargets(values: Values, positionals: string[]): Target[] {
  const all = values['all-platforms'] === true;
  const flagged = ((values.platform as string[] | undefined) ?? []).map(parsePlatformOrUsage);
  if (all && flagged.length > 0) throw new UsageError('use either --platform or --all-platforms');
  const defaults: Platform[] | 'all' = all ? 'all' : flagged.length > 0 ? flagged : [hostPlatform()];
  const named: Array<{ image: string; platform?: string | undefined; where?: string }> = positionals.map((image) => ({ image }));
  const buildArgs = parseBuildArgs((values['build-arg'] as string[] | undefined) ?? []);
  for (const file of (values.dockerfile as string[] | undefined) ?? []) {
    for (const parent of parentImages(readText(file), buildArgs)) named.push({ ...parent, where: file });
  }
  for (const file of (values['from-file'] as string[] | undefined) ?? []) {
    for (const [i, line] of readText(file).split(/\r?\n/).entries()) {
      const image = line.replace(/#.*/, '').trim();
      if (image) named.push({ image, where: `${file}:${i + 1}` });
    }
  }
  if (named.length === 0) throw new UsageError('name at least one image, or --dockerfile FILE or --from-file FILE');
  // The same image named twice (by two files, or a Dockerfile reusing a parent) is warmed once.
  const seen = new Set<string>();
  const targets: Target[] = [];
  for (const { image, platform, where } of named) {
    const ref = refAt(image, where);
    const platforms = platform !== undefined && !all ? [parsePlatformOrUsage(platform)] : defaults;
    const key = JSON.stringify([ref.display, platforms]);
    if (seen.has(key)) continue;
    seen.add(key);
    targets.push({ ref, platforms });
  }
  return targets;
}

/** An image reference; a bad one names the file and line it came from. */
function refAt(image: string, where: string | undefined): ImageRef {
  try {
    return imageRefOrUsage(image);
  } catch (err) {
    throw where === undefined ? err : new UsageError(`${where}: ${(err as Error).message}`);
  }
}

/** --build-arg NAME=VALUE (as docker build takes them). */
function parseBuildArgs(args: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0 || !/^\w+$/.test(arg.slice(0, eq))) throw new UsageError(`--build-arg wants NAME=VALUE, got '${arg}'`);
    out.set(arg.slice(0, eq), arg.slice(eq + 1));
  }
  return out;
}

function parsePlatformOrUsage(text: string): Platform {
  try {
    return parsePlatform(text);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
