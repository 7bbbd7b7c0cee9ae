import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { configSchema, type Config } from './schema.js';

/** A configuration problem, reported as one line naming the key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Plain = Record<string, unknown>;

/** Environment variables and the key each sets. */
export const ENV_KEYS: Record<string, string[]> = {
  CARGOHOLD_LISTEN: ['listen'],
  CARGOHOLD_DATA_DIR: ['dataDir'],
  CARGOHOLD_LOG_LEVEL: ['logLevel'],
  CARGOHOLD_LOG_FORMAT: ['logFormat'],
  CARGOHOLD_UPSTREAM: ['upstream', 'url'],
  CARGOHOLD_UPSTREAM_USERNAME: ['upstream', 'username'],
  CARGOHOLD_UPSTREAM_PASSWORD: ['upstream', 'password'],
  CARGOHOLD_OFFLINE: ['offline'],
  CARGOHOLD_CACHE_MAX_SIZE: ['cache', 'maxSizeBytes'],
  CARGOHOLD_POSTGRES_URL: ['metadata', 'postgres', 'url'],
  CARGOHOLD_CLUSTER_SECRET: ['cluster', 'secret'],
  CARGOHOLD_ADVERTISE_URL: ['cluster', 'advertiseUrl'],
};

/** Environment values are strings; these keys take booleans. */
const BOOLEAN_ENV = new Set(['CARGOHOLD_OFFLINE']);

export interface LoadOptions {
  /** The YAML file (--config or CARGOHOLD_CONFIG). */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, already shaped like the config. */
  flags?: Plain;
}

/** defaults ← file ← environment ← flags, validated and frozen. */
export function loadConfig(options: LoadOptions = {}): Readonly<Config> {
  const env = options.env ?? {};
  const file = options.file ?? env.CARGOHOLD_CONFIG;
  let merged: Plain = file ? readConfigFile(file) : {};
  merged = deepMerge(merged, fromEnv(env));
  merged = deepMerge(merged, options.flags ?? {});
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue?.path.join('.') || '(root)';
    const message = issue?.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : issue?.message;
    throw new ConfigError(`invalid config: ${key}: ${message}`);
  }
  return deepFreeze(result.data);
}

function readConfigFile(path: string): Plain {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${path} must hold a YAML mapping`);
  return doc as Plain;
}

function fromEnv(env: NodeJS.ProcessEnv): Plain {
  const out: Plain = {};
  for (const [name, path] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    let target = out;
    for (const key of path.slice(0, -1)) target = (target[key] ??= {}) as Plain;
    target[path.at(-1) as string] = BOOLEAN_ENV.has(name) ? parseBoolean(value) : value;
  }
  return out;
}

function parseBoolean(value: string): boolean | string {
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  return value; // left as a string: validation names the key
}

function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlain(value) && isPlain(current) ? deepMerge(current, value) : value;
  }
  return out;
}

function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
