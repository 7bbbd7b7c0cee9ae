import { expect } from 'vitest';
import { http } from './http.js';

const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface Pulled {
  digest: string;
  manifestDigest: string;
  blobs: string[];
}

/**
 * Pulls like the Docker daemon does: HEAD the tag, GET the manifest by digest, pick
 * the platform from an index, GET config and layers; checks every digest. `auth` headers go with every request.
 */
export async function pull(base: string, name: string, tag: string, architecture = 'amd64', auth: Record<string, string> = {}): Promise<Pulled> {
  const head = await http(base, `/v2/${name}/manifests/${tag}`, { method: 'HEAD', headers: { accept: ACCEPT, ...auth } });
  expect(head.status, `HEAD ${name}:${tag}`).toBe(200);
  const digest = head.headers['docker-content-digest'] as string;
  let manifest = await http(base, `/v2/${name}/manifests/${digest}`, { headers: { accept: ACCEPT, ...auth } });
  expect(manifest.status).toBe(200);
  expect(manifest.sha256()).toBe(digest);
  let manifestDigest = digest;
  let doc = manifest.json();
  if (doc.manifests) {
    const entry = doc.manifests.find((m: any) => m.platform?.architecture === architecture);
    expect(entry, `platform ${architecture} in index`).toBeDefined();
    manifestDigest = entry.digest;
    manifest = await http(base, `/v2/${name}/manifests/${manifestDigest}`, { headers: { accept: ACCEPT, ...auth } });
    expect(manifest.status).toBe(200);
    expect(manifest.sha256()).toBe(manifestDigest);
    doc = manifest.json();
  }
  const blobs = [doc.config.digest, ...doc.layers.map((l: any) => l.digest)] as string[];
  for (const blob of blobs) {
    const res = await http(base, `/v2/${name}/blobs/${blob}`, { headers: auth });
    expect(res.status, `GET blob ${blob}`).toBe(200);
    expect(res.sha256()).toBe(blob);
  }
  return { digest, manifestDigest, blobs };
}
