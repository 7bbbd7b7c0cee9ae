import type { Context } from 'hono';
import type { Namespaces } from '../../core/namespace.js';
import { resolveName } from '../resolve-name.js';
import type { CatalogService, Page, TagService } from '../../core/types.js';
import type { AppEnv } from '../env.js';
import { nextLink, parsePagination } from '../pagination.js';

function pageResponse(c: Context<AppEnv>, body: unknown, page: Page): Response {
  // The next page must name the same registry (containerd's ?ns=).
  const link = nextLink(c.req.path, page, { ns: c.req.query('ns') });
  return c.json(body, 200, link ? { Link: link } : {});
}

/** GET /v2/<name>/tags/list: sorted, with n/last pagination and a Link header. */
export function tagsHandler(tags: TagService, namespaces: Namespaces) {
  return async (c: Context<AppEnv>, name: string): Promise<Response> => {
    const { n, last } = parsePagination(c.req.query('n'), c.req.query('last'));
    const resolved = resolveName(c, namespaces, name);
    const page = await tags.list(resolved.repository, n, last);
    return pageResponse(c, { name: resolved.name, tags: page.items }, page);
  };
}

/** GET /v2/_catalog: the repositories cached here (those the client may read, with client auth on). */
export function catalogHandler(catalog: CatalogService) {
  return async (c: Context<AppEnv>, readable?: (repository: string) => boolean): Promise<Response> => {
    const { n, last } = parsePagination(c.req.query('n'), c.req.query('last'));
    const page = await catalog.list(n, last, readable);
    return pageResponse(c, { repositories: page.items }, page);
  };
}
