/** What a /v2/ path addresses. Names may hold slashes, so we match from the end, as distribution's routes do. */
export type V2Route =
  | { area: 'base' }
  | { area: 'catalog' }
  | { area: 'manifests'; name: string; reference: string }
  | { area: 'blobs'; name: string; digest: string }
  | { area: 'uploads'; name: string }
  | { area: 'tags'; name: string }
  | { area: 'referrers'; name: string; digest: string };

const ROUTES: Array<[RegExp, (m: RegExpExecArray) => V2Route]> = [
  [/^\/v2\/?$/, () => ({ area: 'base' })],
  [/^\/v2\/_catalog$/, () => ({ area: 'catalog' })],
  [/^\/v2\/(.+)\/blobs\/uploads(?:\/.*)?$/, (m) => ({ area: 'uploads', name: m[1] as string })],
  [/^\/v2\/(.+)\/manifests\/([^/]+)$/, (m) => ({ area: 'manifests', name: m[1] as string, reference: m[2] as string })],
  [/^\/v2\/(.+)\/blobs\/([^/]+)$/, (m) => ({ area: 'blobs', name: m[1] as string, digest: m[2] as string })],
  [/^\/v2\/(.+)\/tags\/list$/, (m) => ({ area: 'tags', name: m[1] as string })],
  [/^\/v2\/(.+)\/referrers\/([^/]+)$/, (m) => ({ area: 'referrers', name: m[1] as string, digest: m[2] as string })],
];

export function matchV2Path(path: string): V2Route | undefined {
  for (const [pattern, build] of ROUTES) {
    const match = pattern.exec(path);
    if (match) return build(match);
  }
  return undefined;
}
