import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { image, index, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';
import { waitFor } from '../support/wait.js';

let hub: FakeHub;
let mirror: Mirror;

beforeEach(async () => {
  hub = await FakeHub.start();
  mirror = await startMirror(hub.registryUrl, { upstream: { tokenRealmOrigins: [hub.realmUrl], redirectOrigins: [hub.cdnUrl] } });
});

afterEach(async () => {
  await mirror.destroy();
  await hub.close();
});

function blobFiles(dataDir: string): string[] {
  const root = join(dataDir, 'blobs', 'sha256');
  return readdirSync(root).flatMap((dir) => readdirSync(join(root, dir)));
}

describe('pull through to a Docker-Hub-like upstream', () => {
  it('fetches each blob once on a first pull, then serves a second pull with no blob or manifest GET upstream', async () => {
    const base = randomLayer(200_000);
    const app = randomLayer(50_000);
    const img = image([base, app]);
    hub.push('library/node', '17-alpine', img);

    const first = await pull(mirror.url, 'library/node', '17-alpine');
    expect(first.digest).toBe(img.manifest.digest);
    for (const b of img.blobs) expect(hub.count({ server: 'cdn', method: 'GET', path: new RegExp(b.digest) })).toBe(1);
    // One authorised manifest GET (the first, token-less attempt is answered 401 by the hub).
    const manifestGets = hub.requests.filter((r) => r.server === 'registry' && r.method === 'GET' && r.path.includes('/manifests/'));
    expect(manifestGets.filter((r) => r.authorization)).toHaveLength(1);
    // The CDN never saw Authorization (it would have answered 400 and the pull failed).
    expect(hub.requests.filter((r) => r.server === 'cdn' && r.authorization)).toHaveLength(0);
    // One token for the repository, however many requests.
    expect(hub.count({ server: 'realm' })).toBe(1);

    hub.resetCounts();
    await pull(mirror.url, 'library/node', '17-alpine');
    expect(hub.count({ method: 'GET' })).toBe(0);
    expect(hub.count({ server: 'registry', method: 'HEAD', path: '/v2/library/node/manifests/17-alpine' })).toBe(1);
    expect(hub.count({ server: 'cdn' })).toBe(0);
    const blobLines = () => mirror.logs.requests().filter((l) => String(l.path).includes('/blobs/'));
    // A line is written when the response has closed, which may be just after the client has its bytes.
    await waitFor(() => blobLines().length === 6, 5000, 'six blob log lines');
    const cacheOf = blobLines().map((l) => l.cache);
    expect(cacheOf.slice(0, 3)).toEqual(['miss', 'miss', 'miss']);
    expect(cacheOf.slice(3)).toEqual(['hit', 'hit', 'hit']);
  });

  it('keeps a parent layer shared by two images once on disk', async () => {
    const parent = randomLayer(100_000);
    const node = image([parent, randomLayer(10_000)]);
    const app = image([parent, randomLayer(10_000), randomLayer(5_000)]);
    hub.push('library/node', '17-alpine', node);
    hub.push('myorg/app', '1.0', app);
    hub.blobs.set(parent.digest, parent.bytes);

    await pull(mirror.url, 'library/node', '17-alpine');
    await pull(mirror.url, 'myorg/app', '1.0');
    await mirror.idle();
    const files = blobFiles(mirror.dataDir);
    const unique = new Set([...node.blobs, ...app.blobs].map((b) => b.digest.slice(7)));
    expect(files.sort()).toEqual([...unique].sort());
    // The shared parent was downloaded once; the second repository was confirmed with a HEAD.
    expect(hub.count({ server: 'cdn', path: new RegExp(parent.digest) })).toBe(1);
    expect(hub.count({ server: 'registry', method: 'HEAD', path: `/v2/myorg/app/blobs/${parent.digest}` })).toBe(1);
  });

  it('treats "node" and "library/node" as one cached repository', async () => {
    const img = image([randomLayer(1000)]);
    hub.push('library/node', 'latest', img);
    await pull(mirror.url, 'node', 'latest');
    hub.resetCounts();
    await pull(mirror.url, 'library/node', 'latest');
    expect(hub.count({ method: 'GET' })).toBe(0);
    const catalog = await http(mirror.url, '/v2/_catalog');
    expect(catalog.json().repositories).toEqual(['docker.io/library/node']);
  });

  it('serves a tag moved upstream with its new digest', async () => {
    const v1 = image([randomLayer(1000)]);
    const v2 = image([randomLayer(1000)]);
    hub.push('library/node', 'latest', v1);
    expect((await pull(mirror.url, 'library/node', 'latest')).digest).toBe(v1.manifest.digest);
    hub.push('library/node', 'latest', v2);
    const res = await http(mirror.url, '/v2/library/node/manifests/latest');
    expect(res.headers['docker-content-digest']).toBe(v2.manifest.digest);
    expect(res.sha256()).toBe(v2.manifest.digest);
  });

  it('serves a cached tag stale when the upstream is stopped, and says so in the log', async () => {
    const img = image([randomLayer(1000)]);
    hub.push('library/node', 'latest', img);
    await pull(mirror.url, 'library/node', 'latest');
    await hub.stopRegistry();
    const pulled = await pull(mirror.url, 'library/node', 'latest');
    expect(pulled.digest).toBe(img.manifest.digest);
    expect(mirror.logs.find((l) => l.msg === 'upstream failed; serving cached tag stale')).toBeDefined();
    expect(mirror.logs.requests().some((l) => l.cache === 'stale' && l.method === 'HEAD')).toBe(true);
    // Not cached at all: a clear 503, quickly.
    const missing = await http(mirror.url, '/v2/library/other/manifests/latest');
    expect(missing.status).toBe(503);
    expect(missing.json().errors[0].code).toBe('UNAVAILABLE');
  });

  it("pulls one platform of a multi-arch index: only that platform's manifest and layers are fetched", async () => {
    const amd = image([randomLayer(2000)], { architecture: 'amd64', format: 'oci' });
    const arm = image([randomLayer(2000)], { architecture: 'arm64', format: 'oci' });
    const multi = index(
      [
        { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
        { image: arm, platform: { os: 'linux', architecture: 'arm64' } },
      ],
      'oci',
    );
    hub.push('library/multi', 'latest', multi);
    const pulled = await pull(mirror.url, 'library/multi', 'latest', 'arm64');
    expect(pulled.manifestDigest).toBe(arm.manifest.digest);
    expect(hub.count({ path: new RegExp(amd.manifest.digest) })).toBe(0);
    for (const b of amd.blobs) expect(hub.count({ path: new RegExp(b.digest) })).toBe(0);
    const res = await http(mirror.url, '/v2/library/multi/manifests/latest');
    expect(res.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json');
  });

  it('serves every manifest kind as the exact bytes with its own media type', async () => {
    const docker = image([randomLayer(100)], { format: 'docker' });
    const oci = image([randomLayer(100)], { format: 'oci' });
    const bare = image([randomLayer(100)], { format: 'oci', omitMediaType: true });
    const list = index([{ image: docker, platform: { os: 'linux', architecture: 'amd64' } }], 'docker');
    hub.push('library/kinds', 'docker', docker);
    hub.push('library/kinds', 'oci', oci);
    hub.push('library/kinds', 'bare', bare);
    hub.push('library/kinds', 'list', list);
    const cases: Array<[string, { bytes: Buffer; digest: string }, string]> = [
      ['docker', docker.manifest, 'application/vnd.docker.distribution.manifest.v2+json'],
      ['oci', oci.manifest, 'application/vnd.oci.image.manifest.v1+json'],
      ['bare', bare.manifest, 'application/vnd.oci.image.manifest.v1+json'],
      ['list', list.index, 'application/vnd.docker.distribution.manifest.list.v2+json'],
    ];
    for (const [tag, manifest, type] of cases) {
      const res = await http(mirror.url, `/v2/library/kinds/manifests/${tag}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe(type);
      expect(res.body.equals(manifest.bytes)).toBe(true);
      expect(res.headers['docker-content-digest']).toBe(manifest.digest);
      expect(res.headers['content-length']).toBe(String(manifest.bytes.length));
      expect(res.headers.etag).toBe(`"${manifest.digest}"`);
    }
  });

  it('serves digest references from disk without contacting the upstream', async () => {
    const img = image([randomLayer(1000)]);
    hub.push('library/node', 'latest', img);
    await pull(mirror.url, 'library/node', 'latest');
    await hub.stopRegistry();
    hub.resetCounts();
    const res = await http(mirror.url, `/v2/library/node/manifests/${img.manifest.digest}`);
    expect(res.status).toBe(200);
    expect(hub.requests).toHaveLength(0);
  });
});
