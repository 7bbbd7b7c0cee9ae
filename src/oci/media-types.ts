export const MediaType = {
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Manifest kinds the mirror stores and serves. Docker schema1 is deprecated and refused. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = Object.values(MediaType);

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList];

/** What we ask the upstream for: every kind we store, so a tag resolves to its canonical manifest. */
export const UPSTREAM_MANIFEST_ACCEPT = [MediaType.OciIndex, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.DockerManifest].join(
  ', ',
);

/** Strips parameters and whitespace: "application/json; charset=utf-8" → "application/json". */
export function bareMediaType(contentType: string | undefined | null): string | undefined {
  const bare = contentType?.split(';')[0]?.trim().toLowerCase();
  return bare ? bare : undefined;
}
