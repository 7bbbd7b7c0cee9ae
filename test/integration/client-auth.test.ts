import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { image, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { errorCode, http, type Reply } from '../support/http.js';
import { startMirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';
import { waitFor } from '../support/wait.js';

const ALICE_PASSWORD = 'alice-Pa55word';
const BOB_PASSWORD = 'bob-Pa55word';
const CI_TOKEN = 'ci-token-0123456789abcdef';
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const ALICE = basic('alice', ALICE_PASSWORD);
const BOB = basic('bob', BOB_PASSWORD);
const CI = { authorization: `Bearer ${CI_TOKEN}` };
const CHALLENGE = 'Basic realm="cargohold"';

let dir: string;
let files: { htpasswdFile: string; tokensFile: string };
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cargohold-client-auth-'));
  const htpasswdFile = join(dir, 'htpasswd');
  // The real tool, as operators make the file: bcrypt entries ($2y$).
  execFileSync('htpasswd', ['-B', '-b', '-c', htpasswdFile, 'alice', ALICE_PASSWORD]);
  execFileSync('htpasswd', ['-B', '-b', htpasswdFile, 'bob', BOB_PASSWORD]);
  const tokensFile = join(dir, 'tokens');
  writeFileSync(tokensFile, `# CI pulls\nci:${CI_TOKEN}\n`);
  files = { htpasswdFile, tokensFile };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectUnauthorized(reply: Reply, detail: unknown = null): void {
  expect([reply.status, reply.headers['www-authenticate']]).toEqual([401, CHALLENGE]);
  expect(reply.json()).toEqual({ errors: [{ code: 'UNAUTHORIZED', message: expect.any(String), detail }] });
}

const pullRecord = (name: string) => [{ Type: 'repository', Class: '', Name: name, Action: 'pull' }];

describe('client auth: logging in', () => {
  const ctx = useHubAndMirror(() => ({ auth: { ...files } }));

  it('/v2/ asks anonymous clients and wrong passwords to log in (401 + Basic challenge), and answers a right password or token 200', async () => {
    const { mirror } = ctx;
    expectUnauthorized(await http(mirror.url, '/v2/'));
    expectUnauthorized(await http(mirror.url, '/v2/', { headers: basic('alice', 'wrong') }));
    expectUnauthorized(await http(mirror.url, '/v2/', { headers: basic('mallory', ALICE_PASSWORD) }));
    expectUnauthorized(await http(mirror.url, '/v2/', { headers: { authorization: 'Bearer not-a-token-at-all' } }));
    expectUnauthorized(await http(mirror.url, '/v2/', { headers: { authorization: 'Basic %%%' } }));
    expectUnauthorized(await http(mirror.url, '/v2/', { headers: { authorization: 'Digest username="alice"' } }));
    const head = await http(mirror.url, '/v2/', { method: 'HEAD' });
    expect([head.status, head.headers['www-authenticate'], head.body.length]).toEqual([401, CHALLENGE, 0]);
    for (const headers of [ALICE, BOB, CI]) {
      const ok = await http(mirror.url, '/v2/', { headers });
      expect([ok.status, ok.body.toString(), ok.headers['docker-distribution-api-version']]).toEqual([200, '{}', 'registry/2.0']);
    }
    // The operations endpoints stay open.
    expect((await http(mirror.url, '/healthz')).status).toBe(200);
    expect((await http(mirror.url, '/readyz')).status).toBe(200);
    expect((await http(mirror.url, '/metrics')).status).toBe(200);
  });

  it('a wrong password reaches no cache and no upstream: the manifest, a blob by digest and the tag list all answer 401', async () => {
    const { hub, mirror } = ctx;
    const img = image([randomLayer(2000)]);
    hub.push('library/node', 'latest', img);
    await pull(mirror.url, 'library/node', 'latest', 'amd64', ALICE);
    hub.resetCounts();
    const wrong = basic('alice', 'nope');
    for (const path of ['/v2/library/node/manifests/latest', `/v2/library/node/blobs/${img.layers[0]?.digest}`, '/v2/library/node/tags/list']) {
      expectUnauthorized(await http(mirror.url, path, { headers: wrong }));
    }
    expect(hub.count()).toBe(0);
  });

  it('credentials never reach the log (debug level); the access log names the principal, and no principal for a failed login', async () => {
    const { hub, mirror } = ctx;
    hub.push('library/node', 'latest', image([randomLayer(500)]));
    const ok = await http(mirror.url, '/v2/library/node/manifests/latest', { headers: ALICE });
    const token = await http(mirror.url, '/v2/library/node/manifests/latest', { headers: CI });
    const wrong = await http(mirror.url, '/v2/library/node/manifests/latest', { headers: basic('alice', 'wrong-Secret-42') });
    const anonymous = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect([ok.status, token.status, wrong.status, anonymous.status]).toEqual([200, 200, 401, 401]);
    const lineOf = (reply: Reply) => mirror.logs.requests().find((l) => l.reqId === reply.headers['x-request-id']);
    await waitFor(() => [ok, token, wrong, anonymous].every((r) => lineOf(r) !== undefined), 5000, 'the access log lines');
    expect(lineOf(ok)).toMatchObject({ status: 200, principal: 'alice' });
    expect(lineOf(token)).toMatchObject({ status: 200, principal: 'ci' });
    expect(lineOf(anonymous)).toMatchObject({ status: 401, principal: 'anonymous', error: { code: 'UNAUTHORIZED' } });
    expect(lineOf(wrong)).toMatchObject({ status: 401, error: { code: 'UNAUTHORIZED', message: 'invalid username, password or token' } });
    expect(lineOf(wrong)).not.toHaveProperty('principal');
    const text = JSON.stringify(mirror.logs.lines);
    for (const secret of [
      ALICE_PASSWORD,
      'wrong-Secret-42',
      CI_TOKEN,
      ALICE.authorization.slice(6),
      basic('alice', 'wrong-Secret-42').authorization.slice(6),
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('client auth: read rules', () => {
  const ctx = useHubAndMirror(() => ({
    auth: {
      ...files,
      rules: [
        { principals: ['alice'], repositories: ['docker.io/library/*'] },
        { principals: ['ci'], repositories: ['docker.io/acme/**'] },
        { principals: ['anonymous'], repositories: ['docker.io/library/busybox'] },
      ],
    },
  }));

  it('each principal reads only what a rule gives it: others get 401 (anonymous) or 403 DENIED, and nothing is asked upstream', async () => {
    const { hub, mirror } = ctx;
    const node = image([randomLayer(1000)]);
    const app = image([randomLayer(1000)]);
    hub.push('library/node', 'latest', node);
    hub.push('library/busybox', 'latest', image([randomLayer(1000)]));
    hub.push('acme/tools/app', '1.0', app);
    await pull(mirror.url, 'node', 'latest', 'amd64', ALICE);
    await pull(mirror.url, 'acme/tools/app', '1.0', 'amd64', CI);
    await pull(mirror.url, 'busybox', 'latest');
    await pull(mirror.url, 'library/busybox', 'latest', 'amd64', ALICE);
    hub.resetCounts();

    const denied = await http(mirror.url, '/v2/acme/tools/app/manifests/1.0', { headers: ALICE });
    expect([denied.status, denied.headers['www-authenticate']]).toEqual([403, undefined]);
    expect(denied.json()).toEqual({
      errors: [{ code: 'DENIED', message: 'requested access to the resource is denied', detail: pullRecord('acme/tools/app') }],
    });
    const deniedBlob = await http(mirror.url, `/v2/acme/tools/app/blobs/${app.layers[0]?.digest}`, { headers: ALICE, method: 'HEAD' });
    expect(deniedBlob.status).toBe(403);
    expect([(await http(mirror.url, '/v2/library/node/tags/list', { headers: CI })).status]).toEqual([403]);
    expect(errorCode(await http(mirror.url, `/v2/library/node/referrers/${node.manifest.digest}`, { headers: CI }))).toBe('DENIED');
    // bob logged in but no rule names him.
    expect(errorCode(await http(mirror.url, '/v2/library/busybox/manifests/latest', { headers: BOB }))).toBe('DENIED');
    expectUnauthorized(await http(mirror.url, '/v2/library/node/manifests/latest'), pullRecord('library/node'));
    expectUnauthorized(await http(mirror.url, `/v2/acme/tools/app/blobs/${app.layers[0]?.digest}`), pullRecord('acme/tools/app'));
    expect(hub.count()).toBe(0);

    // What the rules give, served from the cache.
    expect((await http(mirror.url, '/v2/library/busybox/manifests/latest')).status).toBe(200);
    expect((await http(mirror.url, '/v2/node/manifests/latest', { headers: ALICE })).status).toBe(200);
    expect((await http(mirror.url, `/v2/acme/tools/app/blobs/${app.layers[0]?.digest}`, { headers: CI })).status).toBe(200);
  });

  it('_catalog lists only the repositories the principal may read, pages included', async () => {
    const { hub, mirror } = ctx;
    for (const name of ['library/node', 'library/busybox', 'library/alpine', 'acme/app']) hub.push(name, 'latest', image([randomLayer(100)]));
    for (const name of ['library/node', 'library/busybox', 'library/alpine']) await pull(mirror.url, name, 'latest', 'amd64', ALICE);
    await pull(mirror.url, 'acme/app', 'latest', 'amd64', CI);
    const catalog = async (headers: Record<string, string>, query = '') =>
      (await http(mirror.url, `/v2/_catalog${query}`, { headers })).json<{ repositories: string[] }>().repositories;
    expect(await catalog(ALICE)).toEqual(['docker.io/library/alpine', 'docker.io/library/busybox', 'docker.io/library/node']);
    expect(await catalog(CI)).toEqual(['docker.io/acme/app']);
    expect(await catalog({})).toEqual(['docker.io/library/busybox']);
    expect(await catalog(BOB)).toEqual([]);
    // acme/app sorts first and is skipped; a page knows whether a readable repository follows.
    const first = await http(mirror.url, '/v2/_catalog?n=1', { headers: ALICE });
    expect([first.json<{ repositories: string[] }>().repositories, first.headers.link]).toEqual([
      ['docker.io/library/alpine'],
      '</v2/_catalog?n=1&last=docker.io%2Flibrary%2Falpine>; rel="next"',
    ]);
    const last = await http(mirror.url, '/v2/_catalog?n=2&last=docker.io%2Flibrary%2Falpine', { headers: ALICE });
    expect([last.json<{ repositories: string[] }>().repositories, last.headers.link]).toEqual([
      ['docker.io/library/busybox', 'docker.io/library/node'],
      undefined,
    ]);
    const only = await http(mirror.url, '/v2/_catalog?n=1', { headers: CI });
    expect([only.json<{ repositories: string[] }>().repositories, only.headers.link]).toEqual([['docker.io/acme/app'], undefined]);
  });

  it('a blob cached for a repository anonymous may not read is served anonymously only through a public repository the upstream confirms has it', async () => {
    const { hub, mirror } = ctx;
    const shared = randomLayer(3000);
    const own = randomLayer(3000);
    hub.push('acme/secret', 'latest', image([shared, own]));
    hub.push('library/busybox', 'latest', image([shared]));
    await pull(mirror.url, 'acme/secret', 'latest', 'amd64', CI);
    await mirror.idle();
    hub.resetCounts();
    expectUnauthorized(await http(mirror.url, `/v2/acme/secret/blobs/${shared.digest}`), pullRecord('acme/secret'));
    expect((await http(mirror.url, `/v2/acme/secret/blobs/${shared.digest}`, { method: 'HEAD' })).status).toBe(401);
    expect(hub.count()).toBe(0);
    const viaPublic = await http(mirror.url, `/v2/library/busybox/blobs/${shared.digest}`);
    expect([viaPublic.status, viaPublic.sha256(), viaPublic.headers['x-cargohold-cache']]).toEqual([200, shared.digest, 'hit']);
    // Not in the public repository upstream: the cached bytes stay with the repository they came from.
    const notThere = await http(mirror.url, `/v2/library/busybox/blobs/${own.digest}`);
    expect([notThere.status, errorCode(notThere)]).toEqual([404, 'BLOB_UNKNOWN']);
    expect(hub.count({ method: 'GET', path: /\/blobs\// })).toBe(0);
  });
});

describe('client auth: a private upstream', () => {
  // Even a rule naming anonymous on everything gives no anonymous access to a private upstream.
  const ctx = useHubAndMirror(() => ({
    upstream: { private: true },
    auth: { ...files, rules: [{ principals: ['anonymous', 'alice'], repositories: ['**'] }] },
  }));

  it('content pulled by an allowed principal is never served anonymously: by tag, by digest, HEAD, blobs, tags, referrers, catalog', async () => {
    const { hub, mirror } = ctx;
    const img = image([randomLayer(4000), randomLayer(4000)]);
    hub.push('acme/private', 'v1', img);
    const pulled = await pull(mirror.url, 'acme/private', 'v1', 'amd64', ALICE);
    await mirror.idle();
    hub.resetCounts();
    const record = pullRecord('acme/private');
    const paths = [
      '/v2/acme/private/manifests/v1',
      `/v2/acme/private/manifests/${pulled.digest}`,
      ...pulled.blobs.map((digest) => `/v2/acme/private/blobs/${digest}`),
      '/v2/acme/private/tags/list',
      `/v2/acme/private/referrers/${pulled.digest}`,
    ];
    for (const path of paths) {
      expectUnauthorized(await http(mirror.url, path), record);
      const head = await http(mirror.url, path, { method: 'HEAD' });
      expect([head.status, head.headers['www-authenticate'], head.body.length], `HEAD ${path}`).toEqual([401, CHALLENGE, 0]);
      expect([(await http(mirror.url, path, { headers: BOB })).status], `bob ${path}`).toEqual([403]);
    }
    const range = await http(mirror.url, `/v2/acme/private/blobs/${pulled.blobs[1]}`, { headers: { range: 'bytes=0-9' } });
    expect(range.status).toBe(401);
    expect((await http(mirror.url, '/v2/_catalog')).json()).toEqual({ repositories: [] });
    expect(hub.count()).toBe(0);
    // The allowed principal still gets it, from the cache.
    const blob = await http(mirror.url, `/v2/acme/private/blobs/${pulled.blobs[1]}`, { headers: ALICE });
    expect([blob.status, blob.sha256(), blob.headers['x-cargohold-cache']]).toEqual([200, pulled.blobs[1], 'hit']);
    expect((await http(mirror.url, '/v2/_catalog', { headers: ALICE })).json()).toEqual({ repositories: ['docker.io/acme/private'] });
  });
});

describe('client auth: failed logins', () => {
  it('are rate-limited per client address: 429 TOOMANYREQUESTS with Retry-After, even for the right password, until the window ends', async () => {
    const hub = await FakeHub.start();
    let clock = Date.now();
    const config: ConfigInput = { upstream: hub.trusted, auth: { ...files, anonymous: true, failedLogins: { max: 3, windowSeconds: 60 } } };
    const mirror = await startMirror(hub.registryUrl, config, undefined, () => clock);
    try {
      hub.push('library/node', 'latest', image([randomLayer(100)]));
      for (let i = 0; i < 3; i++) expectUnauthorized(await http(mirror.url, '/v2/', { headers: basic('alice', `guess-${i}`) }));
      for (const headers of [basic('alice', 'guess-4'), ALICE, CI]) {
        const limited = await http(mirror.url, '/v2/library/node/manifests/latest', { headers });
        expect([limited.status, errorCode(limited), limited.headers['retry-after']]).toEqual([429, 'TOOMANYREQUESTS', '60']);
      }
      expect(hub.count()).toBe(0);
      // Anonymous requests try no password: they go on.
      expect((await http(mirror.url, '/v2/library/node/manifests/latest')).status).toBe(200);
      clock += 45_000;
      expect((await http(mirror.url, '/v2/', { headers: ALICE })).headers['retry-after']).toBe('15');
      clock += 15_000;
      expect((await http(mirror.url, '/v2/', { headers: ALICE })).status).toBe(200);
    } finally {
      await mirror.destroy();
      await hub.close();
    }
  });
});

describe('client auth: configuration', () => {
  it('a private upstream without client auth, a non-bcrypt htpasswd entry and a reserved principal name refuse to start, naming the problem', async () => {
    const hub = await FakeHub.start();
    try {
      // Data dirs inside the suite's temp dir: a start that fails leaves its dir behind.
      await expect(startMirror(hub.registryUrl, { upstream: { private: true } }, join(dir, 'data-1'))).rejects.toThrow(
        'invalid config: upstream.private: a private upstream needs client auth: give auth.htpasswdFile or auth.tokensFile',
      );
      const md5 = join(dir, 'htpasswd-md5');
      execFileSync('htpasswd', ['-m', '-b', '-c', md5, 'carol', 'carol-secret']);
      await expect(startMirror(hub.registryUrl, { auth: { htpasswdFile: md5 } }, join(dir, 'data-2'))).rejects.toThrow(
        `${md5} line 1: user "carol" has no bcrypt hash; only bcrypt is supported (htpasswd -B)`,
      );
      const reserved = join(dir, 'tokens-reserved');
      writeFileSync(reserved, 'anonymous:0123456789abcdef0123\n');
      await expect(startMirror(hub.registryUrl, { auth: { tokensFile: reserved } }, join(dir, 'data-3'))).rejects.toThrow(
        `${reserved} line 1: "anonymous" is reserved for rules and cannot be a principal`,
      );
    } finally {
      await hub.close();
    }
  });
});
