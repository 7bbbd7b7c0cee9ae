import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerd, type Dockerd } from '../support/dockerd.js';
import { missingTools, run } from '../support/peers.js';
import { useE2E } from './setup.js';

const missing = missingTools('docker-registry', 'dockerd', 'docker', 'htpasswd');
const PASSWORD = 'e2e-Pa55word';

describe.skipIf(missing)('docker login + docker pull through dockerd, the mirror as an insecure registry with client auth', () => {
  // The upstream is private: only alice, logged in, may read what the mirror fetches with its own credentials.
  const e2e = useE2E('client-auth', undefined, (dir) => {
    const htpasswdFile = join(dir, 'htpasswd');
    execFileSync('htpasswd', ['-B', '-b', '-c', htpasswdFile, 'alice', PASSWORD], { stdio: 'ignore' });
    return { upstream: { private: true }, auth: { htpasswdFile, rules: [{ principals: ['alice'], repositories: ['docker.io/library/*'] }] } };
  });
  let dockerd: Dockerd;
  /** The docker CLI with its own config dir (where `docker login` keeps the credentials), never the user's. */
  let cli: (...args: string[]) => Promise<{ stdout: string; stderr: string; status: number }>;
  beforeAll(async () => {
    dockerd = await startDockerd(e2e.dir, e2e.mirrorHost);
    const config = join(e2e.dir, 'docker-cli');
    mkdirSync(config, { recursive: true });
    cli = (...args) => run('docker', ['-H', `unix://${dockerd.socket}`, '--config', config, ...args], { timeoutMs: 240_000, allowFail: true });
  });
  afterAll(async () => {
    await dockerd?.stop();
  });

  const served = (path: string, principal: string) =>
    e2e.mirror.logs.requests().some((l) => l.path === path && l.status === 200 && l.principal === principal);

  it('an anonymous pull is refused, with no upstream request', async () => {
    const pulled = await cli('pull', `${e2e.mirrorHost}/library/node:17-alpine`);
    expect(pulled.status).not.toBe(0);
    expect(pulled.stderr).toMatch(/no basic auth credentials|unauthorized/i);
    // Docker asks /v2/, learns it needs Basic credentials it does not have, and stops there (or at the manifest's 401).
    const lines = e2e.mirror.logs.requests();
    expect(lines.some((l) => l.status === 401 && l.principal === 'anonymous')).toBe(true);
    expect(lines.filter((l) => l.status === 200)).toEqual([]);
    expect(e2e.upstream.requests().filter((r) => r.method === 'GET' && r.path.startsWith('/v2/library/node/'))).toEqual([]);
  });

  it('docker login with a wrong password fails; with the right one it succeeds, and docker pull then works as alice', async () => {
    const wrong = await cli('login', '-u', 'alice', '-p', 'not-the-password', e2e.mirrorHost);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/401|unauthorized/i);
    const login = await cli('login', '-u', 'alice', '-p', PASSWORD, e2e.mirrorHost);
    expect(login.status, login.stderr).toBe(0);
    expect(login.stdout).toContain('Login Succeeded');
    expect(served('/v2/', 'alice')).toBe(true);

    const pulled = await cli('pull', `${e2e.mirrorHost}/library/node:17-alpine`);
    expect(pulled.status, pulled.stderr).toBe(0);
    expect(served('/v2/library/node/manifests/17-alpine', 'alice')).toBe(true);
    for (const blob of e2e.images.node17.blobs) expect(served(`/v2/library/node/blobs/${blob.digest}`, 'alice')).toBe(true);
    const repoDigests = await cli('image', 'inspect', '--format', '{{json .RepoDigests}}', `${e2e.mirrorHost}/library/node:17-alpine`);
    expect(JSON.parse(repoDigests.stdout)).toContain(`${e2e.mirrorHost}/library/node@${e2e.images.node17.manifest.digest}`);
  });

  it('a repository no rule gives alice is denied (403), and after docker logout nothing cached is served', async () => {
    const denied = await cli('pull', `${e2e.mirrorHost}/myorg/app:1.0`);
    expect(denied.status).not.toBe(0);
    expect(denied.stderr).toMatch(/denied/i);
    expect(e2e.mirror.logs.requests().some((l) => l.path === '/v2/myorg/app/manifests/1.0' && l.status === 403 && l.principal === 'alice')).toBe(
      true,
    );
    expect((await cli('logout', e2e.mirrorHost)).status).toBe(0);
    await cli('rmi', `${e2e.mirrorHost}/library/node:17-alpine`);
    const before = e2e.mirror.logs.requests().length;
    const anonymous = await cli('pull', `${e2e.mirrorHost}/library/node:17-alpine`);
    expect(anonymous.status).not.toBe(0);
    const after = e2e.mirror.logs.requests().slice(before);
    expect(after.some((l) => l.status === 401)).toBe(true);
    expect(after.filter((l) => l.status === 200 && l.path !== '/v2/')).toEqual([]);
  });
});
