import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { image, randomLayer } from '../fixtures/images.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { http } from '../support/http.js';

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const ALICE = basic('alice', 'alice-Pa55word');
const BOB = basic('bob', 'bob-Pa55word');
const CAROL = basic('carol', 'carol-Pa55word');

let dir: string;
let htpasswdFile: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cargohold-dashboard-auth-'));
  htpasswdFile = join(dir, 'htpasswd');
  execFileSync('htpasswd', ['-B', '-b', '-c', htpasswdFile, 'alice', 'alice-Pa55word']);
  execFileSync('htpasswd', ['-B', '-b', htpasswdFile, 'bob', 'bob-Pa55word']);
  execFileSync('htpasswd', ['-B', '-b', htpasswdFile, 'carol', 'carol-Pa55word']);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dashboard with client auth', () => {
  // alice: admin, reads everything; bob: a viewer who reads library/public only; carol: no dashboard role.
  const ctx = useHubAndMirror(() => ({
    auth: {
      htpasswdFile,
      rules: [
        { principals: ['alice'], repositories: ['docker.io/**'] },
        { principals: ['bob', 'carol'], repositories: ['docker.io/library/public'] },
      ],
    },
    ui: { admins: ['alice'], viewers: ['bob'] },
  }));

  it('needs a principal with a role; a viewer sees only what it may read, an admin everything and who pulled', async () => {
    const { hub, mirror } = ctx;
    hub.push('library/public', 'latest', image([randomLayer(20_000)]));
    hub.push('library/secret', 'latest', image([randomLayer(30_000)]));
    expect((await http(mirror.url, '/v2/library/secret/manifests/latest', { headers: ALICE })).status).toBe(200);
    expect((await http(mirror.url, '/v2/library/public/manifests/latest', { headers: BOB })).status).toBe(200);
    expect((await http(mirror.url, '/v2/library/secret/manifests/latest', { headers: BOB })).status).toBe(403);

    // Anonymous (off by default with auth on), a wrong password, and a principal without a role.
    const anonymous = await http(mirror.url, '/');
    expect([anonymous.status, anonymous.headers['www-authenticate']]).toEqual([401, 'Basic realm="cargohold"']);
    expect((await http(mirror.url, '/', { headers: basic('bob', 'wrong') })).status).toBe(401);
    expect((await http(mirror.url, '/ui/images', { headers: CAROL })).status).toBe(403);
    // Assets are public (the login prompt page needs none of our data).
    expect((await http(mirror.url, '/ui/assets/style.css')).status).toBe(200);

    const bobImages = (await http(mirror.url, '/ui/images', { headers: BOB })).body.toString();
    expect(bobImages).toContain('data-image="docker.io/library/public:latest"');
    expect(bobImages).not.toContain('library/secret');
    expect(bobImages).not.toContain('data-post='); // a viewer has no buttons
    expect((await http(mirror.url, '/ui/image?repository=docker.io/library/secret&tag=latest', { headers: BOB })).status).toBe(404);
    const bobReport = (await http(mirror.url, '/ui/api/report?by=image', { headers: BOB })).json();
    expect(bobReport.rows.map((r: { key: string }) => r.key)).toEqual(['docker.io/library/public']);
    expect(bobReport.total.pulls).toBe(1);
    expect((await http(mirror.url, '/ui/api/report?by=principal', { headers: BOB })).status).toBe(403);
    const bobNow = (await http(mirror.url, '/ui/api/now', { headers: BOB })).json();
    expect(bobNow.requests.map((r: { path: string }) => r.path)).toEqual(['/v2/library/public/manifests/latest']);
    const refused = await http(mirror.url, '/ui/api/pin', {
      method: 'POST',
      headers: { ...BOB, 'content-type': 'application/json' },
      body: JSON.stringify({ repository: 'docker.io/library/public', reference: 'latest' }),
    });
    expect(refused.status).toBe(403);

    const aliceImages = (await http(mirror.url, '/ui/images', { headers: ALICE })).body.toString();
    expect(aliceImages).toContain('data-image="docker.io/library/secret:latest"');
    expect(aliceImages).toContain('data-post="/ui/api/pin"');
    const byPrincipal = (await http(mirror.url, '/ui/api/report?by=principal', { headers: ALICE })).json();
    expect(byPrincipal.rows.map((r: { key: string; pulls: number }) => [r.key, r.pulls])).toEqual([
      ['alice', 1],
      ['bob', 1],
    ]);
    const pinned = await http(mirror.url, '/ui/api/pin', {
      method: 'POST',
      headers: { ...ALICE, 'content-type': 'application/json' },
      body: JSON.stringify({ repository: 'docker.io/library/secret', reference: 'latest' }),
    });
    expect(pinned.status).toBe(200);
  });
});
