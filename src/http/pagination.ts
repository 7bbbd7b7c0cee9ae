import { RegistryError } from '../errors/registry-error.js';
import type { Page } from '../core/types.js';

/** `n` and `last` from a list request: n a non-negative integer, clamped by the caller. */
export function parsePagination(nParam: string | undefined, lastParam: string | undefined): { n: number | undefined; last: string | undefined } {
  let n: number | undefined;
  if (nParam !== undefined) {
    if (!/^\d{1,9}$/.test(nParam)) {
      throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { detail: { n: nParam } });
    }
    n = Number(nParam);
  }
  return { n, last: lastParam === undefined || lastParam === '' ? undefined : lastParam };
}

/** The `Link: <...>; rel="next"` header for a page that has a next one; `keep` holds query parameters the next page needs too (`ns`). */
export function nextLink(path: string, page: Page, keep: Record<string, string | undefined> = {}): string | undefined {
  if (!page.next) return undefined;
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(keep)) if (value !== undefined) query.set(key, value);
  query.set('n', String(page.next.n));
  query.set('last', page.next.last);
  return `<${path}?${query}>; rel="next"`;
}
