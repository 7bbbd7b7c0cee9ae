import { createHash } from 'node:crypto';
import { RESERVED_PRINCIPALS } from './types.js';

/** A credentials file that cannot be used; the message names the file and line, never a secret. */
export class CredentialFileError extends Error {
  override name = 'CredentialFileError';
}

/** What `htpasswd -B` writes ($2y$), and the other bcrypt prefixes bcrypt libraries use. */
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
/** Shorter tokens could be guessed (failed attempts are only rate-limited per address). */
export const MIN_TOKEN_LENGTH = 16;

interface Entry {
  name: string;
  secret: string;
  line: number;
}

/** `name:secret` lines; blank lines and `#` comments skipped. */
function entries(text: string, file: string, what: string): Entry[] {
  const out: Entry[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = line.indexOf(':');
    const where = `${file} line ${index + 1}`;
    if (at <= 0 || at === line.length - 1) throw new CredentialFileError(`${where}: expected ${what}`);
    const name = line.slice(0, at);
    if (RESERVED_PRINCIPALS.has(name)) throw new CredentialFileError(`${where}: "${name}" is reserved for rules and cannot be a principal`);
    if (seen.has(name)) throw new CredentialFileError(`${where}: "${name}" appears twice`);
    seen.add(name);
    out.push({ name, secret: line.slice(at + 1), line: index + 1 });
  });
  return out;
}

/** An htpasswd file: user → bcrypt hash. Other hash formats (MD5, SHA1, crypt) are refused, as distribution does. */
export function parseHtpasswd(text: string, file: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const { name, secret, line } of entries(text, file, 'user:bcrypt-hash (htpasswd -B)')) {
    if (!BCRYPT.test(secret)) {
      throw new CredentialFileError(`${file} line ${line}: user "${name}" has no bcrypt hash; only bcrypt is supported (htpasswd -B)`);
    }
    users.set(name, secret);
  }
  return users;
}

/** A tokens file: `name:token` lines, kept as sha256(token) → name so lookups never compare secrets byte by byte. */
export function parseTokens(text: string, file: string): Map<string, string> {
  const tokens = new Map<string, string>();
  for (const { name, secret, line } of entries(text, file, 'name:token')) {
    if (secret.length < MIN_TOKEN_LENGTH || /\s/.test(secret)) {
      throw new CredentialFileError(`${file} line ${line}: the token of "${name}" must be at least ${MIN_TOKEN_LENGTH} characters, without spaces`);
    }
    const key = tokenKey(secret);
    if (tokens.has(key)) throw new CredentialFileError(`${file} line ${line}: the token of "${name}" is also another principal's`);
    tokens.set(key, name);
  }
  return tokens;
}

export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
