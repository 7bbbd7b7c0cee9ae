import { readFileSync } from 'node:fs';
import { readSecret } from './secret.js';
import type { Config, UpstreamEntry } from './schema.js';

/** Docker Hub: the default upstream, there with no config at all. */
export const DEFAULT_HOST = 'docker.io';

export interface TagTtlRuleConfig {
  match?: string | undefined;
  regex?: string | undefined;
  ttlSeconds: number;
}

/** One configured upstream with every default applied and its password read. */
export interface ResolvedUpstream {
  /** The host clients name it by (`docker.io`, `ghcr.io`); stored repositories start with it. */
  host: string;
  url: string;
  credentials: { username: string; password: string } | undefined;
  tokenRealmOrigins: string[] | undefined;
  redirectOrigins: string[];
  tagTtlSeconds: number;
  tagTtlRules: TagTtlRuleConfig[];
  allow: string[] | undefined;
  deny: string[];
  /** Only authenticated clients may read it (enforced by client auth, carried here). */
  private: boolean;
}

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  readFile?: (path: string) => string;
}

/**
 * The upstreams a config names: docker.io from the `upstream:` section (an `upstreams.docker.io`
 * entry overrides what it sets), then every other `upstreams:` entry. A password named by
 * an environment variable or a file is read now, so a missing one stops start-up.
 */
export function resolveUpstreams(config: Readonly<Config>, options: ResolveOptions = {}): ResolvedUpstream[] {
  const env = options.env ?? process.env;
  const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const base = config.upstream;
  const hub = config.upstreams[DEFAULT_HOST];
  const resolved: ResolvedUpstream[] = [
    resolveEntry(DEFAULT_HOST, hub ?? { deny: [], private: false }, config, env, readFile, {
      url: base.url,
      credentials: base.username && base.password ? { username: base.username, password: base.password } : undefined,
      tokenRealmOrigins: base.tokenRealmOrigins,
      redirectOrigins: base.redirectOrigins,
    }),
  ];
  // `upstream.private` is the docker.io entry's too.
  if (base.private) (resolved[0] as ResolvedUpstream).private = true;
  for (const [host, entry] of Object.entries(config.upstreams)) {
    if (host === DEFAULT_HOST) continue;
    resolved.push(resolveEntry(host, entry, config, env, readFile, { url: `https://${host}`, credentials: undefined }));
  }
  return resolved;
}

interface Fallback {
  url: string;
  credentials: ResolvedUpstream['credentials'];
  tokenRealmOrigins?: readonly string[] | undefined;
  redirectOrigins?: readonly string[] | undefined;
}

function resolveEntry(
  host: string,
  entry: UpstreamEntry,
  config: Readonly<Config>,
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string,
  fallback: Fallback,
): ResolvedUpstream {
  const password = passwordOf(host, entry, env, readFile);
  const credentials = entry.username !== undefined && password !== undefined ? { username: entry.username, password } : fallback.credentials;
  const realms = entry.tokenRealmOrigins ?? fallback.tokenRealmOrigins;
  return {
    host,
    url: entry.url ?? fallback.url,
    credentials,
    tokenRealmOrigins: realms?.map((u) => new URL(u).origin),
    redirectOrigins: (entry.redirectOrigins ?? fallback.redirectOrigins ?? []).map((u) => new URL(u).origin),
    tagTtlSeconds: entry.tagTtlSeconds ?? config.upstream.tagTtlSeconds,
    tagTtlRules: [...(entry.tagTtlRules ?? config.upstream.tagTtlRules)],
    allow: entry.allow ? [...entry.allow] : undefined,
    deny: [...entry.deny],
    private: entry.private,
  };
}

function passwordOf(host: string, entry: UpstreamEntry, env: NodeJS.ProcessEnv, readFile: (path: string) => string): string | undefined {
  return readSecret(`upstreams.${host}.password`, { value: entry.password, env: entry.passwordEnv, file: entry.passwordFile }, env, readFile);
}
