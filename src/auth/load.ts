import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { Authenticator } from './authenticator.js';
import { ClientAuth } from './client-auth.js';
import { CredentialFileError, parseHtpasswd, parseTokens } from './credential-files.js';
import { AccessRules, type ReadRule } from './rules.js';
import { ANONYMOUS, AUTHENTICATED } from './types.js';

/** Without rules: whoever logged in reads everything. */
const DEFAULT_RULES: ReadRule[] = [{ principals: [AUTHENTICATED], repositories: ['**'] }];

/** Client auth from the config, its files read now; undefined when it is off (no htpasswd or tokens file). */
export function loadClientAuth(auth: Config['auth'], now: () => number = Date.now): ClientAuth | undefined {
  if (auth.htpasswdFile === undefined && auth.tokensFile === undefined) return undefined;
  const users = auth.htpasswdFile === undefined ? new Map<string, string>() : parseFile(auth.htpasswdFile, parseHtpasswd);
  const tokens = auth.tokensFile === undefined ? new Map<string, string>() : parseFile(auth.tokensFile, parseTokens);
  const rules: ReadRule[] = [...(auth.rules ?? DEFAULT_RULES)];
  if (auth.anonymous) rules.push({ principals: [ANONYMOUS], repositories: ['**'] });
  const authenticator = new Authenticator({
    users,
    tokens,
    verifiedCacheMs: auth.verifiedCacheSeconds * 1000,
    maxFailedLogins: auth.failedLogins.max,
    failedLoginWindowMs: auth.failedLogins.windowSeconds * 1000,
    now,
  });
  return new ClientAuth(authenticator, new AccessRules(rules), auth.realm);
}

function parseFile(path: string, parse: (text: string, file: string) => Map<string, string>): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return parse(text, path);
  } catch (err) {
    if (err instanceof CredentialFileError) throw new ConfigError(err.message);
    throw err;
  }
}
