import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { resolveUpstreams } from '../../src/config/upstreams.js';
import { globToRegExp, Namespaces } from '../../src/core/namespace.js';
import { RegistryError } from '../../src/errors/registry-error.js';
import { realmTrust, registrableDomain } from '../../src/upstream/realm-trust.js';

const namespaces = new Namespaces([
  { host: 'docker.io', private: false },
  { host: 'ghcr.io', private: true, allow: ['myorg/**'], deny: ['myorg/secret'] },
  { host: 'myregistry.example:5000', private: false },
]);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof RegistryError ? err.code : 'not a RegistryError';
  }
}

describe('which repository a request names', () => {
  it.each([
    ['node', undefined, 'docker.io/library/node', 'library/node'],
    ['library/node', 'docker.io', 'docker.io/library/node', 'library/node'],
    ['node', 'registry-1.docker.io', 'docker.io/library/node', 'library/node'],
    ['myorg/app', 'ghcr.io', 'ghcr.io/myorg/app', 'myorg/app'],
    ['ghcr.io/myorg/app', undefined, 'ghcr.io/myorg/app', 'ghcr.io/myorg/app'],
    ['GHCR.IO/myorg/app', undefined, 'ghcr.io/myorg/app', 'ghcr.io/myorg/app'],
    ['docker.io/node', undefined, 'docker.io/library/node', 'docker.io/library/node'],
    ['myregistry.example:5000/team/app', undefined, 'myregistry.example:5000/team/app', 'myregistry.example:5000/team/app'],
    ['node', 'myregistry.example:5000', 'myregistry.example:5000/node', 'node'],
    ['myorg/app', undefined, 'docker.io/myorg/app', 'myorg/app'],
  ])('%s (ns %s) → %s', (name, ns, repository, echoed) => {
    const resolved = namespaces.resolve(name, ns);
    expect([resolved.repository, resolved.name]).toEqual([repository, echoed]);
  });

  it('carries private for client auth', () => {
    expect(namespaces.resolve('myorg/app', 'ghcr.io').private).toBe(true);
    expect(namespaces.resolve('node', undefined).private).toBe(false);
  });

  it.each([
    ['foo', 'quay.io', 'NAME_UNKNOWN'],
    ['foo', '127.0.0.1:5000', 'NAME_UNKNOWN'],
    ['foo', '169.254.169.254', 'NAME_UNKNOWN'],
    ['localhost/foo', undefined, 'NAME_UNKNOWN'],
    ['127.0.0.1:5000/foo', undefined, 'NAME_UNKNOWN'],
    ['169.254.169.254/latest/meta-data', undefined, 'NAME_UNKNOWN'],
    ['quay.io/foo', undefined, 'NAME_UNKNOWN'],
    ['ghcr.io/', undefined, 'NAME_INVALID'],
    ['../etc', undefined, 'NAME_INVALID'],
    ['ghcr.io/Foo', undefined, 'NAME_INVALID'],
    ['elsewhere/app', 'ghcr.io', 'DENIED'],
    ['ghcr.io/myorg/secret', undefined, 'DENIED'],
  ])('%s (ns %s) → %s', (name, ns, code) => {
    expect(codeOf(() => namespaces.resolve(name, ns))).toBe(code);
  });

  it('globs: * within a segment, ** across', () => {
    expect(['a/b', 'a/b/c', 'ab'].map((n) => globToRegExp('a/*').test(n))).toEqual([true, false, false]);
    expect(['a/b', 'a/b/c', 'ab'].map((n) => globToRegExp('a/**').test(n))).toEqual([true, true, false]);
  });
});

describe('token realms trusted for an upstream', () => {
  it('registrable domains', () => {
    expect(['registry.gitlab.com', 'ghcr.io', 'r.example.co.uk', '127.0.0.1', 'localhost', '[::1]'].map(registrableDomain)).toEqual([
      'gitlab.com',
      'ghcr.io',
      'example.co.uk',
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('default: its own origin and https hosts of its domain on the default port; Basic to it allowed', () => {
    const trust = realmTrust(new URL('https://registry.gitlab.com'), undefined);
    const allows = (u: string) => trust.allows(new URL(u));
    expect(
      [
        'https://gitlab.com/jwt/auth',
        'https://registry.gitlab.com/t',
        'https://auth.gitlab.com/t',
        'http://gitlab.com/t',
        'https://gitlab.com:8443/t',
      ].map(allows),
    ).toEqual([true, true, true, false, false]);
    expect(['https://evilgitlab.com/t', 'https://gitlab.com.evil.io/t', 'https://auth.docker.io/token'].map(allows)).toEqual([false, false, false]);
    expect(trust.basicToRegistry).toBe(true);
  });

  it('configured: only those; Basic to the registry only when its origin is the one realm trusted', () => {
    const upstream = new URL('https://r.example.com');
    expect(realmTrust(upstream, ['https://r.example.com']).basicToRegistry).toBe(true);
    const elsewhere = realmTrust(upstream, ['https://r.example.com', 'https://auth.example.com']);
    expect(elsewhere.basicToRegistry).toBe(false);
    expect(realmTrust(upstream, ['https://auth.example.com']).allows(new URL('https://r.example.com/t'))).toBe(false);
  });
});

describe('upstreams: config', () => {
  it('no config: docker.io alone, from the upstream: section', () => {
    const resolved = resolveUpstreams(loadConfig({ flags: { upstream: { username: 'u', password: 'p' } } }));
    expect(resolved.map((u) => [u.host, u.url, u.credentials, u.private])).toEqual([
      ['docker.io', 'https://registry-1.docker.io', { username: 'u', password: 'p' }, false],
    ]);
  });

  it('entries: url defaults to https://<host>; passwords inline, from the environment or a file; docker.io overridable', () => {
    const config = loadConfig({
      flags: {
        upstream: { tagTtlSeconds: 42 },
        auth: { htpasswdFile: '/etc/cargohold/htpasswd' }, // a private upstream needs client auth
        upstreams: {
          'docker.io': { url: 'http://127.0.0.1:5001', private: true },
          'ghcr.io': { username: 'bot', passwordEnv: 'GHCR_PW' },
          'quay.io': { username: 'q', passwordFile: '/secret/quay' },
          'registry.k8s.io': {},
        },
      },
    });
    const resolved = resolveUpstreams(config, { env: { GHCR_PW: 'from-env' }, readFile: () => 'from-file\n' });
    expect(resolved.map((u) => [u.host, u.url, u.credentials?.password, u.tagTtlSeconds, u.private])).toEqual([
      ['docker.io', 'http://127.0.0.1:5001', undefined, 42, true],
      ['ghcr.io', 'https://ghcr.io', 'from-env', 42, false],
      ['quay.io', 'https://quay.io', 'from-file', 42, false],
      ['registry.k8s.io', 'https://registry.k8s.io', undefined, 42, false],
    ]);
  });

  it('a missing password source stops start-up naming the key', () => {
    const config = loadConfig({ flags: { upstreams: { 'ghcr.io': { username: 'bot', passwordEnv: 'NOPE' } } } });
    expect(() => resolveUpstreams(config, { env: {} })).toThrow('upstreams.ghcr.io.passwordEnv: the environment variable NOPE is not set');
    const fileConfig = loadConfig({ flags: { upstreams: { 'ghcr.io': { username: 'bot', passwordFile: '/nope' } } } });
    const enoent = () => {
      throw Object.assign(new Error('x'), { code: 'ENOENT' });
    };
    expect(() => resolveUpstreams(fileConfig, { readFile: enoent })).toThrow('upstreams.ghcr.io.passwordFile: cannot read /nope (ENOENT)');
  });

  it.each([
    [{ 'GHCR.io': {} }, 'upstreams.GHCR.io: must be a registry host'],
    [{ 'https://ghcr.io': {} }, 'must be a registry host'],
    [{ 'index.docker.io': {} }, 'Docker Hub is configured as docker.io'],
    [{ 'ghcr.io': { username: 'u' } }, 'username and a password go together'],
    [{ 'ghcr.io': { username: 'u', password: 'p', passwordEnv: 'E' } }, 'give one of password, passwordEnv, passwordFile'],
    [{ 'ghcr.io': { allow: ['Foo/*'] } }, 'a repository glob'],
  ])('refuses %j', (upstreams, message) => {
    expect(() => loadConfig({ flags: { upstreams } })).toThrow(message);
  });
});
