import { inspect, parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import { StorageError } from '../errors/storage-error.js';
import type { Config } from '../config/schema.js';
import { parseImageRef, type ImageRef } from '../warm/image-ref.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Options every command that opens the data directory takes. */
export const STORE_OPTIONS = {
  'data-dir': { type: 'string' },
  upstream: { type: 'string' },
  config: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

/** A usage problem: one line on stderr, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Something about this machine stops the command (an unusable data dir): one line on stderr, exit 1. */
export class EnvironmentError extends Error {
  override name = 'EnvironmentError';
}

export function parseCommand(args: string[], options: Options): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.split('. To specify')[0] ?? '');
  }
}

/** Flags → config keys; file and environment as loadConfig merges them. */
export function configFrom(values: Values, env: NodeJS.ProcessEnv): Readonly<Config> {
  const flags: Record<string, unknown> = {};
  if (values.listen !== undefined) flags.listen = values.listen;
  if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir'];
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level'];
  if (values['log-format'] !== undefined) flags.logFormat = values['log-format'];
  if (values.upstream !== undefined) flags.upstream = { url: values.upstream };
  if (values.offline === true) flags.offline = true;
  return loadConfig({ file: values.config as string | undefined, env, flags });
}

/**
 * Runs a command body: a usage or config problem is one line and exit 2; an environment
 * problem (the data dir, the disk) one line and exit 1; anything else one line, a hint and
 * exit 1, with the stack only when asked for (debug), so a user never sees a stack trace.
 */
export async function guard(body: () => Promise<number>, options: { details?: boolean } = {}): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const write = (text: string) => process.stderr.write(text);
    if (err instanceof UsageError || err instanceof ConfigError) {
      write(`cargohold: ${err.message}\nRun 'cargohold --help' for usage.\n`);
      return 2;
    }
    if (err instanceof EnvironmentError || err instanceof StorageError) {
      write(`cargohold: ${firstLine(err)}\n`);
      if (options.details && err instanceof StorageError) write(`${inspect(err)}\n`);
      return 1;
    }
    write(`cargohold: unexpected error: ${firstLine(err)}\n`);
    write(options.details ? `${inspect(err)}\n` : DETAILS_HINT);
    return 1;
  }
}

export const DETAILS_HINT = '(run with --log-level debug for details)\n';

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] || (err instanceof Error ? err.name : 'error');
}

/** Whether the command line or the environment asks for debug output (read before the config, which may be what fails). */
export function wantsDetails(args: string[], env: NodeJS.ProcessEnv): boolean {
  let level = env.CARGOHOLD_LOG_LEVEL;
  for (const [i, arg] of args.entries()) {
    if (arg === '--log-level') level = args[i + 1];
    else if (arg.startsWith('--log-level=')) level = arg.slice('--log-level='.length);
  }
  return level === 'debug' || level === 'trace';
}

export function imageRefOrUsage(image: string): ImageRef {
  try {
    return parseImageRef(image);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
