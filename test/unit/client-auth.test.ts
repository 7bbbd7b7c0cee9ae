import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/authenticator.js';
import { CredentialFileError, parseHtpasswd, parseTokens, tokenKey } from '../../src/auth/credential-files.js';
import { globToRegExp } from '../../src/auth/glob.js';
import { AccessRules } from '../../src/auth/rules.js';
import { ANONYMOUS_PRINCIPAL } from '../../src/auth/types.js';
import { loadConfig } from '../../src/config/load.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const target = (repository: string, upstream = 'docker.io', isPrivate = false) => ({ upstream, repository, private: isPrivate });
const alice = { name: 'alice', authenticated: true };

describe('repository globs', () => {
  it('* and ? stay within a path component, ** crosses them', () => {
    const one = globToRegExp('docker.io/library/*');
    expect([one.test('docker.io/library/node'), one.test('docker.io/library/a/b'), one.test('docker.io/libraryx/node')]).toEqual([
      true,
      false,
      false,
    ]);
    const all = globToRegExp('ghcr.io/acme/**');
    expect([all.test('ghcr.io/acme/a/b/c'), all.test('ghcr.io/acmex/a'), all.test('ghcr.io/acme')]).toEqual([true, false, false]);
    const q = globToRegExp('localhost:5000/app-?');
    expect([q.test('localhost:5000/app-1'), q.test('localhost:5000/app-12'), q.test('localhost_5000/app-1')]).toEqual([true, false, false]);
    expect(globToRegExp('**').test('docker.io/library/node')).toBe(true);
  });
});

describe('read rules', () => {
  const rules = new AccessRules([
    { principals: ['alice'], repositories: ['docker.io/library/*', 'ghcr.io/acme/**'] },
    { principals: ['authenticated'], repositories: ['docker.io/public/*'] },
    { principals: ['anonymous'], repositories: ['**'] },
  ]);

  it('match the principal by name, authenticated or anonymous, and the glob on upstream/repository', () => {
    expect(rules.canRead(alice, target('library/node'))).toBe(true);
    expect(rules.canRead(alice, target('acme/x/y', 'ghcr.io', true))).toBe(true);
    expect(rules.canRead(alice, target('library/node', 'ghcr.io', true))).toBe(false);
    expect(rules.canRead({ name: 'bob', authenticated: true }, target('public/tool'))).toBe(true);
    expect(rules.canRead({ name: 'bob', authenticated: true }, target('library/node'))).toBe(false);
    expect(rules.canRead(ANONYMOUS_PRINCIPAL, target('library/node'))).toBe(true);
  });

  it('never let anonymous clients read a private upstream, even with a rule naming them on everything', () => {
    expect(rules.canRead(ANONYMOUS_PRINCIPAL, target('library/node', 'docker.io', true))).toBe(false);
  });
});

describe('credential files', () => {
  const hash = bcrypt.hashSync('pw', 4);
  it('htpasswd: bcrypt entries by user; comments and blank lines skipped; other formats refused without echoing the hash', () => {
    expect(parseHtpasswd(`# users\n\nalice:${hash}\r\nbob:${hash.replace('$2b$', '$2y$')}\n`, 'f')).toEqual(
      new Map([
        ['alice', hash],
        ['bob', hash.replace('$2b$', '$2y$')],
      ]),
    );
    expect(() => parseHtpasswd('carol:$apr1$abcdefgh$0123456789abcdefghijkl\n', 'f')).toThrow(
      new CredentialFileError('f line 1: user "carol" has no bcrypt hash; only bcrypt is supported (htpasswd -B)'),
    );
    expect(() => parseHtpasswd(`alice:${hash}\nalice:${hash}\n`, 'f')).toThrow('f line 2: "alice" appears twice');
    expect(() => parseHtpasswd('no-colon\n', 'f')).toThrow('f line 1: expected user:bcrypt-hash (htpasswd -B)');
    expect(() => parseHtpasswd(`authenticated:${hash}\n`, 'f')).toThrow('f line 1: "authenticated" is reserved for rules and cannot be a principal');
  });

  it('tokens: kept by their sha256; short or shared tokens refused', () => {
    expect(parseTokens('ci:abcdefghijklmnop:q\n', 'f')).toEqual(new Map([[tokenKey('abcdefghijklmnop:q'), 'ci']]));
    expect(() => parseTokens('ci:short\n', 'f')).toThrow('f line 1: the token of "ci" must be at least 16 characters, without spaces');
    expect(() => parseTokens('a:abcdefghijklmnop\nb:abcdefghijklmnop\n', 'f')).toThrow(`f line 2: the token of "b" is also another principal's`);
  });
});

describe('the authenticator', () => {
  function make(clock: { t: number }, options: { max?: number } = {}) {
    const runs: string[] = [];
    const users = new Map([['alice', bcrypt.hashSync('right', 4)]]);
    const authenticator = new Authenticator({
      users,
      tokens: new Map([[tokenKey('tok-0123456789abcdef'), 'ci']]),
      verifiedCacheMs: 60_000,
      maxFailedLogins: options.max ?? 100,
      failedLoginWindowMs: 60_000,
      now: () => clock.t,
      compare: async (password, hash) => {
        runs.push(password);
        return bcrypt.compare(password, hash);
      },
    });
    return { authenticator, runs };
  }

  it('runs bcrypt once for concurrent checks of one credential, then not again until the cache entry expires', async () => {
    const clock = { t: 1_000_000 };
    const { authenticator, runs } = make(clock);
    const results = await Promise.all(Array.from({ length: 20 }, () => authenticator.authenticate(basic('alice', 'right'), '10.0.0.1')));
    for (const result of results) expect(result).toEqual({ ok: true, principal: alice });
    expect(runs).toEqual(['right']);
    clock.t += 59_000;
    expect(await authenticator.authenticate(basic('alice', 'right'), '10.0.0.1')).toEqual({ ok: true, principal: alice });
    expect(runs).toHaveLength(1);
    clock.t += 1_000;
    expect(await authenticator.authenticate(basic('alice', 'right'), '10.0.0.1')).toEqual({ ok: true, principal: alice });
    expect(runs).toHaveLength(2);
  });

  it('never caches a failure; an unknown user costs a bcrypt run too; tokens need none', async () => {
    const { authenticator, runs } = make({ t: 0 });
    expect(await authenticator.authenticate(basic('alice', 'wrong'), 'a')).toEqual({ ok: false, reason: 'invalid' });
    expect(await authenticator.authenticate(basic('alice', 'wrong'), 'a')).toEqual({ ok: false, reason: 'invalid' });
    expect(await authenticator.authenticate(basic('nobody', 'x'), 'a')).toEqual({ ok: false, reason: 'invalid' });
    expect(runs).toEqual(['wrong', 'wrong', 'x']);
    expect(await authenticator.authenticate('Bearer tok-0123456789abcdef', 'a')).toEqual({
      ok: true,
      principal: { name: 'ci', authenticated: true },
    });
    expect(await authenticator.authenticate('bearer tok-0123456789abcdef', 'a')).toMatchObject({ ok: true });
    expect(await authenticator.authenticate(undefined, 'a')).toEqual({ ok: true, principal: ANONYMOUS_PRINCIPAL });
    expect(runs).toHaveLength(3);
  });

  it('locks an address out after max failures, before any bcrypt run or cache look-up; other addresses go on', async () => {
    const clock = { t: 0 };
    const { authenticator, runs } = make(clock, { max: 2 });
    expect(await authenticator.authenticate(basic('alice', 'right'), 'a')).toMatchObject({ ok: true });
    await authenticator.authenticate(basic('alice', 'x1'), 'a');
    await authenticator.authenticate('Bearer wrong-token-wrong-token', 'a');
    const before = runs.length;
    expect(await authenticator.authenticate(basic('alice', 'right'), 'a')).toEqual({ ok: false, reason: 'throttled', retryAfterSeconds: 60 });
    expect(runs).toHaveLength(before);
    expect(await authenticator.authenticate(basic('alice', 'right'), 'b')).toMatchObject({ ok: true });
    clock.t += 60_000;
    expect(await authenticator.authenticate(basic('alice', 'right'), 'a')).toMatchObject({ ok: true });
  });
});

describe('client auth config', () => {
  it('defaults to off; rules without a credentials file and a private upstream without auth are refused', () => {
    const config = loadConfig({});
    expect(config.auth).toEqual({ realm: 'cargohold', anonymous: false, verifiedCacheSeconds: 60, failedLogins: { max: 10, windowSeconds: 60 } });
    expect(config.upstream.private).toBe(false);
    expect(() => loadConfig({ flags: { auth: { rules: [{ principals: ['anonymous'], repositories: ['**'] }] } } })).toThrow(
      'invalid config: auth: rules and anonymous need client auth on: give htpasswdFile or tokensFile',
    );
    expect(() => loadConfig({ flags: { auth: { htpasswdFile: 'h', rules: [{ principals: ['a'], repositories: ['library/*'] }] } } })).toThrow(
      'invalid config: auth.rules.0.repositories.0: must name the upstream host first, e.g. docker.io/library/*',
    );
    expect(() => loadConfig({ flags: { auth: { htpasswdFile: 'h', rules: [{ principals: ['a'], repositories: ['Docker.io/x'] }] } } })).toThrow(
      'invalid config: auth.rules.0.repositories.0: must be a glob on host/repository',
    );
  });
});
