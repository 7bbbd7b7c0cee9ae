import { matchV2Path } from './v2-path.js';

/** The route a path matched, as a pattern (never the path itself: metric labels stay few). */
export interface RouteLabel {
  pattern: string;
  /** The cache kind its responses count under, if any. */
  kind: 'manifest' | 'blob' | undefined;
}

const OWN = new Set(['/metrics', '/healthz', '/readyz']);

export function routeLabel(path: string): RouteLabel {
  if (OWN.has(path)) return { pattern: path, kind: undefined };
  if (path.startsWith('/_cargohold/v1/fills/')) return { pattern: '/_cargohold/v1/fills/:digest', kind: undefined };
  const route = matchV2Path(path);
  switch (route?.area) {
    case undefined:
      return { pattern: 'other', kind: undefined };
    case 'base':
      return { pattern: '/v2/', kind: undefined };
    case 'catalog':
      return { pattern: '/v2/_catalog', kind: undefined };
    case 'manifests':
      return { pattern: '/v2/:name/manifests/:reference', kind: 'manifest' };
    case 'blobs':
      return { pattern: '/v2/:name/blobs/:digest', kind: 'blob' };
    case 'uploads':
      return { pattern: '/v2/:name/blobs/uploads/', kind: undefined };
    case 'tags':
      return { pattern: '/v2/:name/tags/list', kind: undefined };
    case 'referrers':
      return { pattern: '/v2/:name/referrers/:digest', kind: undefined };
  }
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The method as a label: the usual ones by name, anything else `other`. */
export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'other';
}
