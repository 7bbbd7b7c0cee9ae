import { ConfigError } from './load.js';

/** A secret given in the config itself, by an environment variable's name, or by a file's path. */
export interface SecretSource {
  value: string | undefined;
  env: string | undefined;
  file: string | undefined;
}

/**
 * Reads a secret from where the config says, at start: a missing variable, an unreadable or
 * empty file is a ConfigError naming the key (`key` is its path, `upstreams.ghcr.io.password`).
 */
export function readSecret(key: string, source: SecretSource, env: NodeJS.ProcessEnv, readFile: (path: string) => string): string | undefined {
  if (source.value !== undefined) return source.value;
  if (source.env !== undefined) {
    const value = env[source.env];
    if (!value) throw new ConfigError(`invalid config: ${key}Env: the environment variable ${source.env} is not set`);
    return value;
  }
  if (source.file !== undefined) {
    let text: string;
    try {
      text = readFile(source.file);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigError(`invalid config: ${key}File: cannot read ${source.file} (${why})`);
    }
    // A file written by `echo` ends in a newline that is not part of the secret.
    const value = text.replace(/\r?\n$/, '');
    if (!value) throw new ConfigError(`invalid config: ${key}File: ${source.file} is empty`);
    return value;
  }
  return undefined;
}
