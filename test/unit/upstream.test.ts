import { describe, expect, it } from 'vitest';
import { parseChallenges } from '../../src/upstream/challenge.js';
import { parseNextLink } from '../../src/upstream/client.js';
import { errorForNetworkFailure, errorForUpstreamStatus } from '../../src/upstream/errors.js';
import { TokenCache } from '../../src/upstream/token-cache.js';

describe('WWW-Authenticate challenges', () => {
  it("parses Docker Hub's Bearer challenge", () => {
    const header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/node:pull"';
    expect(parseChallenges(header)).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/node:pull' } },
    ]);
  });
  it('parses Basic, unquoted values, escapes, and several challenges', () => {
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseChallenges('Bearer realm=https://x/token, service=svc')[0]?.params).toEqual({ realm: 'https://x/token', service: 'svc' });
    expect(parseChallenges('Bearer realm="a\\"b"')[0]?.params.realm).toBe('a"b');
    const two = parseChallenges('Basic realm="r1", Bearer realm="https://t",scope="repository:a:pull,push"');
    expect(two.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(two[1]?.params.scope).toBe('repository:a:pull,push');
  });
  it('returns nothing for an empty or missing header', () => {
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('')).toEqual([]);
  });
});

describe('token cache', () => {
  it('keeps a token until shortly before it expires', () => {
    let now = 0;
    const cache = new TokenCache(() => now);
    const key = TokenCache.key('realm', 'svc', 'repository:a:pull', '');
    cache.set(key, 'tok', 300);
    now = 200_000;
    expect(cache.get(key)).toBe('tok');
    now = 290_000;
    expect(cache.get(key)).toBeUndefined();
  });
  it('treats lifetimes under 60 s as 60 s (the spec minimum)', () => {
    let now = 0;
    const cache = new TokenCache(() => now);
    cache.set('k', 'tok', 1);
    now = 40_000;
    expect(cache.get('k')).toBe('tok');
  });
});

describe('upstream error mapping', () => {
  it.each([
    [404, 'manifest', 'MANIFEST_UNKNOWN', 404],
    [404, 'blob', 'BLOB_UNKNOWN', 404],
    [404, 'repository', 'NAME_UNKNOWN', 404],
    [401, 'manifest', 'UNAUTHORIZED', 401],
    [403, 'manifest', 'DENIED', 403],
    [429, 'manifest', 'TOOMANYREQUESTS', 429],
    [500, 'blob', 'UNAVAILABLE', 503],
    [503, 'blob', 'UNAVAILABLE', 503],
    [418, 'blob', 'UNAVAILABLE', 502],
  ] as const)('%i for a %s → %s (%i)', (status, kind, code, ours) => {
    const err = errorForUpstreamStatus(status, kind, {});
    expect([err.code, err.status]).toEqual([code, ours]);
  });
  it('passes NAME_UNKNOWN through from a 404 body', () => {
    expect(errorForUpstreamStatus(404, 'manifest', {}, 'NAME_UNKNOWN').code).toBe('NAME_UNKNOWN');
  });
  it('maps network failures to 503, naming timeouts', () => {
    expect(errorForNetworkFailure(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 'manifest').message).toMatch(/timed out/);
    expect(errorForNetworkFailure(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'manifest').status).toBe(503);
  });
  it('reads the next page from a Link header', () => {
    expect(parseNextLink('</v2/a/tags/list?n=2&last=b>; rel="next"')).toEqual({ n: 2, last: 'b' });
    expect(parseNextLink('<https://x/v2/a/tags/list?last=b%2Fc>; rel=next')).toEqual({ last: 'b/c' });
    expect(parseNextLink(undefined)).toBeUndefined();
  });
});
