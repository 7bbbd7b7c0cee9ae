import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
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

/** Runs a command body, turning usage and config errors into one line and exit 2. */
export async function guard(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`cargohold: ${err.message}\nRun 'cargohold --help' for usage.\n`);
      return 2;
    }
    throw err;
  }
}

export function imageRefOrUsage(image: string): ImageRef {
  try {
    return parseImageRef(image);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
