import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { artifact, image, randomLayer, referrersIndex, type Image, type ReferrerEntry } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { errorCode, http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const SBOM = 'application/vnd.example.sbom.v1';
const SIG = 'application/vnd.example.signature.v1';

let hub: FakeHub;
let mirror: Mirror | undefined;
let time: number;
let subject: Image;
let sbom: ReturnType<typeof artifact>;
let sig: ReturnType<typeof artifact>;

async function start(overrides: ConfigInput = {}): Promise<Mirror> {
  mirror = await startMirror(
    hub.registryUrl,
    { ...overrides, upstream: { tokenRealmOrigins: [hub.realmUrl], tagTtlSeconds: 300, ...overrides.upstream } },
    undefined,
    () => time,
  );
  return mirror;
}

beforeEach(async () => {
  time = 1_700_000_000_000;
  hub = await FakeHub.start();
  subject = image([randomLayer(10)], { format: 'oci' });
  hub.push('library/node', 'latest', subject);
  sbom = artifact(subject.manifest, { artifactType: SBOM, annotations: { 'org.example.sbom.format': 'json' } });
  // No artifactType: the config's media type names the artifact.
  sig = artifact(subject.manifest, { configMediaType: SIG });
  hub.push('library/node', undefined, sbom);
  hub.push('library/node', undefined, sig);
  // A referrer of something else.
  hub.push('library/node', undefined, artifact(image([randomLayer(10)], { format: 'oci' }).manifest, { artifactType: SBOM }));
});

afterEach(async () => {
  await mirror?.destroy();
  mirror = undefined;
  await hub.close();
});

/** Requests the upstream answered (not counting the unauthenticated first try its token challenge answers). */
const upstreamGets = (pattern: RegExp) =>
  hub.requests.filter((r) => r.server === 'registry' && r.method === 'GET' && r.authorization !== undefined && pattern.test(r.path)).length;

const referrersPath = (digest = subject.manifest.digest) => `/v2/library/node/referrers/${digest}`;

function expectIndex(res: Awaited<ReturnType<typeof http>>, descriptors: ReferrerEntry[]): void {
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe(INDEX);
  expect(res.json()).toEqual({ schemaVersion: 2, mediaType: INDEX, manifests: descriptors });
}

const byDigest = (entries: ReferrerEntry[]) => [...entries].sort((a, b) => (a.digest < b.digest ? -1 : 1));

describe('GET /v2/<name>/referrers/<digest>', () => {
  it('from the upstream`s referrers API: an index of the subject`s referrers, filtered by artifactType, one upstream request per TTL', async () => {
    hub.referrersApi = true;
    const m = await start();
    const all = await http(m.url, referrersPath());
    expectIndex(all, [sbom.descriptor, sig.descriptor]);
    expect(all.headers['oci-filters-applied']).toBeUndefined();
    const filtered = await http(m.url, `${referrersPath()}?artifactType=${encodeURIComponent(SIG)}`);
    expectIndex(filtered, [sig.descriptor]);
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    const none = await http(m.url, `${referrersPath()}?artifactType=application/vnd.example.none`);
    expectIndex(none, []);
    expect(none.headers['oci-filters-applied']).toBe('artifactType');
    expect(upstreamGets(/\/referrers\//)).toBe(1);
    expect(upstreamGets(/\/manifests\//)).toBe(0);
    time += 300_000;
    expectIndex(await http(m.url, referrersPath()), [sbom.descriptor, sig.descriptor]);
    expect(upstreamGets(/\/referrers\//)).toBe(2);
  });

  it('follows the upstream`s Link pages', async () => {
    hub.referrersApi = true;
    hub.referrersPageSize = 1;
    const m = await start();
    const res = await http(m.url, referrersPath());
    expectIndex(res, [sbom.descriptor, sig.descriptor]);
    expect(res.headers.link).toBeUndefined();
    expect(upstreamGets(/\/referrers\//)).toBe(2);
  });

  it('an upstream without the API (404): the index behind the referrers tag sha256-<hex>', async () => {
    hub.pushManifest('library/node', `sha256-${subject.manifest.digest.slice(7)}`, referrersIndex([sig.descriptor, sbom.descriptor]));
    const m = await start();
    expectIndex(await http(m.url, referrersPath()), [sig.descriptor, sbom.descriptor]);
    const filtered = await http(m.url, `${referrersPath()}?artifactType=${encodeURIComponent(SBOM)}`);
    expectIndex(filtered, [sbom.descriptor]);
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect(upstreamGets(/\/referrers\//)).toBe(1);
    expect(upstreamGets(new RegExp(`/manifests/sha256-${subject.manifest.digest.slice(7)}$`))).toBe(1);
  });

  it('an unknown digest, or no API and no referrers tag: 200 with an empty index', async () => {
    const m = await start();
    expectIndex(await http(m.url, referrersPath(`sha256:${'0'.repeat(64)}`)), []);
    expectIndex(await http(m.url, referrersPath()), []);
    hub.referrersApi = true;
    expectIndex(await http(m.url, referrersPath(`sha256:${'1'.repeat(64)}`)), []);
  });

  it('a referrers tag that is not an index means no referrers', async () => {
    hub.pushManifest('library/node', `sha256-${subject.manifest.digest.slice(7)}`, subject.manifest);
    const m = await start();
    expectIndex(await http(m.url, referrersPath()), []);
  });

  it('merges the referrers cached here (pulled by digest) with the upstream`s, and serves them alone when the upstream is down', async () => {
    const m = await start({ upstream: { tagTtlSeconds: 0 } });
    // Pulled through the mirror by digest: stored, with their subject.
    for (const a of [sbom, sig]) expect((await http(m.url, `/v2/library/node/manifests/${a.manifest.digest}`)).status).toBe(200);
    hub.pushManifest('library/node', `sha256-${subject.manifest.digest.slice(7)}`, referrersIndex([sig.descriptor]));
    // The tag's entry first, then what only the cache knows; each digest once.
    expectIndex(await http(m.url, referrersPath()), [sig.descriptor, sbom.descriptor]);
    await hub.stopRegistry();
    expectIndex(await http(m.url, referrersPath()), byDigest([sbom.descriptor, sig.descriptor]));
    const filtered = await http(m.url, `${referrersPath()}?artifactType=${encodeURIComponent(SIG)}`);
    expectIndex(filtered, [sig.descriptor]);
    // Another repository does not see them.
    expectIndex(await http(m.url, `/v2/library/other/referrers/${subject.manifest.digest}`), []);
  });

  it('offline: the referrers cached here', async () => {
    let m = await start();
    expect((await http(m.url, `/v2/library/node/manifests/${sbom.manifest.digest}`)).status).toBe(200);
    const dataDir = m.dataDir;
    await m.close();
    hub.resetCounts();
    m = mirror = await startMirror(hub.registryUrl, { offline: true }, dataDir);
    expectIndex(await http(m.url, referrersPath()), [sbom.descriptor]);
    expect(hub.requests).toHaveLength(0);
  });

  it('an upstream answering 500: the referrers cached here, 200', async () => {
    const m = await start();
    expect((await http(m.url, `/v2/library/node/manifests/${sig.manifest.digest}`)).status).toBe(200);
    hub.fault = (r) => (r.path.includes('/referrers/') ? { status: 500 } : undefined);
    expectIndex(await http(m.url, referrersPath()), [sig.descriptor]);
  });

  it('HEAD: the headers, no body', async () => {
    hub.referrersApi = true;
    const m = await start();
    const res = await http(m.url, referrersPath(), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(INDEX);
    expect(res.body.length).toBe(0);
  });

  it('an invalid digest is 400 DIGEST_INVALID, a bad name 400 NAME_INVALID, neither asking the upstream', async () => {
    const m = await start();
    for (const digest of ['sha256:zz', 'latest', `md5:${'a'.repeat(32)}`, `sha256:${'A'.repeat(64)}`]) {
      const res = await http(m.url, `/v2/library/node/referrers/${digest}`);
      expect([res.status, errorCode(res)]).toEqual([400, 'DIGEST_INVALID']);
    }
    const bad = await http(m.url, `/v2/Bad/referrers/${subject.manifest.digest}`);
    expect([bad.status, errorCode(bad)]).toEqual([400, 'NAME_INVALID']);
    expect(hub.requests).toHaveLength(0);
  });
});
