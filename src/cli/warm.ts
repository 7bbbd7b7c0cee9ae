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
  const request: WarmRequest = { targets: targets.map((t) => ({ image: t.ref.display, platforms: t.platforms })), concurrency, pin };
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
  const named: Array<{ image: string; platform?: string | undefined }> = positionals.map((image) => ({ image }));
  for (const file of (values.dockerfile as string[] | undefined) ?? []) named.push(...parentImages(readText(file)));
  for (const file of (values['from-file'] as string[] | undefined) ?? []) {
    for (const line of readText(file).split(/\r?\n/)) {
      const image = line.replace(/#.*/, '').trim();
      if (image) named.push({ image });
    }
  }
  if (named.length === 0) throw new UsageError('name at least one image, or --dockerfile FILE or --from-file FILE');
  return named.map(({ image, platform }) => {
    const ref = imageRefOrUsage(image);
    return { ref, platforms: platform !== undefined && !all ? [parsePlatformOrUsage(platform)] : defaults };
  });
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
