import { describe, expect, it } from 'vitest';
import { image, index, randomLayer } from '../fixtures/images.js';
import { useHubAndMirror } from '../support/hub-fixture.js';
import { errorCode, http } from '../support/http.js';
import { waitFor } from '../support/wait.js';

const ctx = useHubAndMirror();

describe('the pull side of the API', () => {
  it('GET /v2/ → 200 with the API version header, without asking the upstream', async () => {
    const res = await http(ctx.mirror.url, '/v2/');
    expect(res.status).toBe(200);
    expect(res.headers['docker-distribution-api-version']).toBe('registry/2.0');
    expect(ctx.hub.requests).toHaveLength(0);
  });

  it('HEAD a manifest and a blob: headers, no body', async () => {
    const layer = randomLayer(5000);
    const img = image([layer]);
    ctx.hub.push('myorg/team/app', '1.0', img);
    const head = await http(ctx.mirror.url, '/v2/myorg/team/app/manifests/1.0', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(img.manifest.size));
    expect(head.headers['docker-content-digest']).toBe(img.manifest.digest);
    const blobHeadMiss = await http(ctx.mirror.url, `/v2/myorg/team/app/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(blobHeadMiss.status).toBe(200);
    expect(blobHeadMiss.headers['content-length']).toBe(String(layer.size));
    expect(ctx.hub.count({ server: 'cdn' })).toBe(0); // a HEAD does not download
    await http(ctx.mirror.url, `/v2/myorg/team/app/blobs/${layer.digest}`);
    const blobHeadHit = await http(ctx.mirror.url, `/v2/myorg/team/app/blobs/${layer.digest}`, { method: 'HEAD' });
    expect(blobHeadHit.headers['content-length']).toBe(String(layer.size));
    expect(blobHeadHit.headers['docker-content-digest']).toBe(layer.digest);
    expect(blobHeadHit.headers['accept-ranges']).toBe('bytes');
  });

  it('negotiates on Accept like distribution: an index to a client that reads only image manifests gets its linux/amd64 image', async () => {
    const amd = image([randomLayer(10)], { architecture: 'amd64' });
    const arm = image([randomLayer(10)], { architecture: 'arm64' });
    const list = index(
      [
        { image: arm, platform: { os: 'linux', architecture: 'arm64' } },
        { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
      ],
      'docker',
    );
    ctx.hub.push('library/multi', 'latest', list);
    const schema2 = 'application/vnd.docker.distribution.manifest.v2+json';
    const old = await http(ctx.mirror.url, '/v2/library/multi/manifests/latest', { headers: { accept: schema2 } });
    expect(old.status).toBe(200);
    expect(old.headers['content-type']).toBe(schema2);
    expect(old.headers['docker-content-digest']).toBe(amd.manifest.digest);
    expect(old.body.equals(amd.manifest.bytes)).toBe(true);
    const listType = 'application/vnd.docker.distribution.manifest.list.v2+json';
    for (const accept of [`${listType}; q=0.9, ${schema2}`, '*/*', `${schema2}, */*`]) {
      const res = await http(ctx.mirror.url, '/v2/library/multi/manifests/latest', { headers: { accept } });
      expect(res.headers['docker-content-digest']).toBe(list.index.digest);
    }
    const refused = await http(ctx.mirror.url, `/v2/library/multi/manifests/${amd.manifest.digest}`, {
      headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect([refused.status, errorCode(refused)]).toEqual([404, 'MANIFEST_UNKNOWN']);
  });

  it('containerd style: ?ns=docker.io is accepted', async () => {
    const img = image([randomLayer(10)]);
    ctx.hub.push('library/node', 'latest', img);
    const res = await http(ctx.mirror.url, '/v2/library/node/manifests/latest?ns=docker.io', { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers['docker-content-digest']).toBe(img.manifest.digest);
  });

  it('tags/list pages with n/last and a Link header', async () => {
    for (const tag of ['a', 'b', 'c', 'd', 'e']) ctx.hub.push('library/node', tag, image([randomLayer(10)]));
    const first = await http(ctx.mirror.url, '/v2/library/node/tags/list?n=2');
    expect(first.json()).toEqual({ name: 'library/node', tags: ['a', 'b'] });
    expect(first.headers.link).toBe('</v2/library/node/tags/list?n=2&last=b>; rel="next"');
    const second = await http(ctx.mirror.url, '/v2/library/node/tags/list?n=2&last=b');
    expect(second.json().tags).toEqual(['c', 'd']);
    const last = await http(ctx.mirror.url, '/v2/library/node/tags/list?n=2&last=d');
    expect(last.json().tags).toEqual(['e']);
    expect(last.headers.link).toBeUndefined();
    const all = await http(ctx.mirror.url, '/v2/node/tags/list');
    expect(all.json().tags).toEqual(['a', 'b', 'c', 'd', 'e']);
    const zero = await http(ctx.mirror.url, '/v2/library/node/tags/list?n=0');
    expect(zero.json().tags).toEqual([]);
  });

  it('asks the upstream for its list in pages of limits.maxPageSize (1000), whatever n the client sent', async () => {
    ctx.hub.push('library/node', 'a', image([randomLayer(10)]));
    await http(ctx.mirror.url, '/v2/library/node/tags/list?n=999999');
    const asked = ctx.hub.requests.filter((r) => r.server === 'registry' && r.authorization !== undefined && r.path.includes('/tags/list'));
    expect(asked.map((r) => r.path)).toEqual(['/v2/library/node/tags/list?n=1000']);
  });

  it('tags/list falls back to the tags cached here when the upstream is down', async () => {
    for (const tag of ['x', 'y', 'z']) {
      ctx.hub.push('library/node', tag, image([randomLayer(10)]));
      await http(ctx.mirror.url, `/v2/library/node/manifests/${tag}`);
    }
    await ctx.hub.stopRegistry();
    const page = await http(ctx.mirror.url, '/v2/library/node/tags/list?n=2');
    expect(page.json().tags).toEqual(['x', 'y']);
    expect(page.headers.link).toBe('</v2/library/node/tags/list?n=2&last=y>; rel="next"');
  });

  it('_catalog lists the repositories cached here, paginated', async () => {
    for (const name of ['library/a', 'library/b', 'myorg/c']) {
      ctx.hub.push(name, 'latest', image([randomLayer(10)]));
      await http(ctx.mirror.url, `/v2/${name}/manifests/latest`);
    }
    const first = await http(ctx.mirror.url, '/v2/_catalog?n=2');
    expect(first.json()).toEqual({ repositories: ['docker.io/library/a', 'docker.io/library/b'] });
    expect(first.headers.link).toBe('</v2/_catalog?n=2&last=docker.io%2Flibrary%2Fb>; rel="next"');
    const rest = await http(ctx.mirror.url, '/v2/_catalog?n=2&last=docker.io/library/b');
    expect(rest.json()).toEqual({ repositories: ['docker.io/myorg/c'] });
  });

  it('logs one JSON line per request with method, path, status, bytes, duration and cache', async () => {
    const layer = randomLayer(3000);
    ctx.hub.push('library/node', 'latest', image([layer]));
    await http(ctx.mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    await http(ctx.mirror.url, `/v2/library/node/blobs/${layer.digest}`);
    const linesFor = () => ctx.mirror.logs.requests().filter((l) => String(l.path).includes(layer.digest));
    await waitFor(() => linesFor().length === 2);
    const lines = linesFor();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ method: 'GET', status: 200, bytes: layer.size, cache: 'miss' });
    expect(lines[1]).toMatchObject({ method: 'GET', status: 200, bytes: layer.size, cache: 'hit' });
    expect(lines[1]?.ms).toEqual(expect.any(Number));
  });
});
