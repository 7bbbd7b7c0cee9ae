import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifact, image, randomLayer, referrersIndex } from '../fixtures/images.js';
import { http } from '../support/http.js';
import { startMirror, type Mirror } from '../support/mirror.js';
import { waitFor } from '../support/wait.js';
import { missingTools, startDistribution, type Distribution } from '../support/peers.js';
import { pushBlob, pushImage, pushManifest } from '../support/registry-push.js';

const missing = missingTools('docker-registry');
const INDEX = 'application/vnd.oci.image.index.v1+json';
const SBOM = 'application/vnd.example.sbom.v1';
const SIG = 'application/vnd.example.signature.v1';

/**
 * Distribution 2.8 (Debian's docker-registry) has no referrers API: pushers keep the
 * referrers tag schema's index (`sha256-<hex>`) themselves, as cosign and notation do
 * against such a registry, and cargohold reads referrers from it.
 */
describe.skipIf(missing)('referrers through cargohold, with the CNCF distribution registry (no referrers API) as upstream', () => {
  let dir: string;
  let upstream: Distribution;
  let mirror: Mirror;
  const subject = image([randomLayer(100)], { format: 'oci' });
  const sbom = artifact(subject.manifest, { artifactType: SBOM, annotations: { 'org.example.sbom.format': 'json' } });
  const sig = artifact(subject.manifest, { configMediaType: SIG });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cargohold-e2e-referrers-'));
    upstream = await startDistribution(join(dir, 'upstream'));
    await pushImage(upstream.url, 'library/signed', 'latest', subject);
    for (const a of [sbom, sig]) {
      for (const blob of a.blobs) await pushBlob(upstream.url, 'library/signed', blob);
      await pushManifest(upstream.url, 'library/signed', a.manifest.digest, a.manifest);
    }
    await pushManifest(
      upstream.url,
      'library/signed',
      `sha256-${subject.manifest.digest.slice(7)}`,
      referrersIndex([sbom.descriptor, sig.descriptor]),
    );
    mirror = await startMirror(upstream.url, {}, join(dir, 'mirror'));
  });
  afterAll(async () => {
    await mirror?.close();
    await upstream?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('lists the referrers from the referrers tag, filtered by artifactType on request', async () => {
    const path = `/v2/library/signed/referrers/${subject.manifest.digest}`;
    const all = await http(mirror.url, path);
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toBe(INDEX);
    expect(all.json()).toEqual({ schemaVersion: 2, mediaType: INDEX, manifests: [sbom.descriptor, sig.descriptor] });
    const filtered = await http(mirror.url, `${path}?artifactType=${encodeURIComponent(SIG)}`);
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect(filtered.json().manifests).toEqual([sig.descriptor]);
    // The upstream has no referrers API: it answered 404 there, and cargohold read the tag. distribution writes
    // its access log line after the response, so the second one may lag behind it under load.
    const apiGets = () =>
      upstream
        .requests()
        .filter((r) => r.method === 'GET' && r.path === path)
        .map((r) => r.status);
    await waitFor(() => apiGets().length >= 2, 5000, "distribution's log of both referrers GETs");
    expect(apiGets()).toEqual([404, 404]);
    expect(
      upstream
        .requests()
        .some((r) => r.method === 'GET' && r.path.endsWith(`/manifests/sha256-${subject.manifest.digest.slice(7)}`) && r.status === 200),
    ).toBe(true);
  });

  it('an image without referrers: 200 with an empty index', async () => {
    const res = await http(mirror.url, `/v2/library/signed/referrers/${sbom.manifest.digest}`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ schemaVersion: 2, mediaType: INDEX, manifests: [] });
  });
});
