import type { Blob, Image, Manifest, MultiArch } from '../fixtures/images.js';

/**
 * Pushes images to a real registry through its push API (monolithic uploads, manifest
 * PUT with the manifest's own media type), so digests and media types are exactly ours.
 */
export async function pushBlob(registry: string, repository: string, blob: Blob): Promise<void> {
  const head = await fetch(`${registry}/v2/${repository}/blobs/${blob.digest}`, { method: 'HEAD' });
  if (head.status === 200) return;
  const start = await fetch(`${registry}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`upload start ${start.status}: ${await start.text()}`);
  const location = new URL(start.headers.get('location') as string, registry);
  location.searchParams.set('digest', blob.digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' }, // fetch sets Content-Length for a byte body
    body: new Uint8Array(blob.bytes),
  });
  if (put.status !== 201) throw new Error(`upload ${blob.digest} ${put.status}: ${await put.text()}`);
}

export async function pushManifest(registry: string, repository: string, reference: string, manifest: Manifest): Promise<void> {
  const res = await fetch(`${registry}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': manifest.mediaType },
    body: new Uint8Array(manifest.bytes),
  });
  if (res.status !== 201) throw new Error(`manifest PUT ${repository}:${reference} ${res.status}: ${await res.text()}`);
  const digest = res.headers.get('docker-content-digest');
  if (digest !== manifest.digest) throw new Error(`registry stored ${digest}, expected ${manifest.digest}`);
}

export async function pushImage(registry: string, repository: string, tag: string, content: Image | MultiArch): Promise<void> {
  const images = 'index' in content ? content.images.map((e) => e.image) : [content];
  for (const img of images) {
    for (const blob of img.blobs) await pushBlob(registry, repository, blob);
    await pushManifest(registry, repository, img.manifest.digest, img.manifest);
  }
  await pushManifest(registry, repository, tag, 'index' in content ? content.index : content.manifest);
}
