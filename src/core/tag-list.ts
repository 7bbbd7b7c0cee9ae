import type { Logger } from 'pino';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import { canServeStale } from './policy.js';
import { TtlCache } from './ttl-cache.js';
import type { Page, TagService } from './types.js';
import type { Upstream } from './upstream-port.js';

export interface TagListOptions {
  metadata: MetadataRepo;
  upstream: Upstream;
  logger: Logger;
  maxPage: number;
  /** How long a repository's full upstream list is kept in memory (the default tag TTL). */
  ttlSeconds: number;
  now?: () => number;
}

/** Upstream pages followed for one list at most: a bound on what a broken upstream can make us do. */
const MAX_UPSTREAM_PAGES = 1000;
/** Repositories whose lists are kept in memory at once. */
const MAX_CACHED_LISTS = 256;

/**
 * Tag lists: the upstream's full list, fetched once (following its own pages) and kept for
 * the TTL, sorted and paged here, so `n`, `last` and `Link` are right whatever the upstream
 * does with them (distribution 2.8 ignores both). When the upstream fails: the tags cached here.
 */
export class TagList implements TagService {
  readonly #md: MetadataRepo;
  readonly #upstream: Upstream;
  readonly #logger: Logger;
  readonly #maxPage: number;
  readonly #lists: TtlCache<string[]>;

  constructor(opts: TagListOptions) {
    this.#md = opts.metadata;
    this.#upstream = opts.upstream;
    this.#logger = opts.logger;
    this.#maxPage = opts.maxPage;
    this.#lists = new TtlCache({ ttlSeconds: opts.ttlSeconds, maxEntries: MAX_CACHED_LISTS, now: opts.now ?? Date.now });
  }

  async list(repository: string, n: number | undefined, last: string | undefined): Promise<Page> {
    const limit = Math.min(n ?? this.#maxPage, this.#maxPage);
    let all: string[];
    try {
      all = await this.#lists.get(repository, () => this.#fetchAll(repository));
    } catch (err) {
      if (!canServeStale(err)) throw err;
      const local = await this.#md.listTags(repository, last ?? '', limit + 1);
      if (local === undefined) throw err;
      this.#logger.warn({ repository, err: (err as Error).message }, 'upstream failed; listing cached tags');
      return localPage(local, limit);
    }
    const start = last === undefined ? 0 : firstAfter(all, last);
    return localPage(all.slice(start, start + limit + 1), limit);
  }

  /**
   * Every tag of the upstream, sorted. Pages of maxPage are asked for; the upstream's `Link`
   * is followed, and a full page without one is continued from its last tag (a registry that
   * pages without Link). An upstream that ignores `last` sends nothing new: the walk ends there.
   */
  async #fetchAll(repository: string): Promise<string[]> {
    const tags = new Set<string>();
    const asked = new Set<string>();
    let request: { n: number | undefined; last: string | undefined } = { n: this.#maxPage, last: undefined };
    for (let pages = 0; pages < MAX_UPSTREAM_PAGES; pages++) {
      const page = await this.#upstream.listTags(repository, request.n, request.last);
      const before = tags.size;
      for (const tag of page.tags) tags.add(tag);
      if (tags.size === before) break;
      const lastTag = page.tags.at(-1);
      const next =
        page.next ??
        (request.n !== undefined && page.tags.length >= request.n && lastTag !== undefined ? { n: request.n, last: lastTag } : undefined);
      if (next === undefined || asked.has(next.last)) break;
      asked.add(next.last);
      request = { n: next.n, last: next.last };
    }
    return [...tags].sort(compare);
  }
}

/** Code-point order (Go's sort.Strings for ASCII tags), the order SQLite lists cached tags in. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The index of the first item after `last` in a sorted list (`last` need not be in it). */
function firstAfter(sorted: readonly string[], last: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] as string) <= last) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** A page of at most `limit` from rows that hold one more when there is a next page. */
export function localPage(rows: string[], limit: number): Page {
  const items = rows.slice(0, limit);
  const lastItem = items.at(-1);
  return { items, next: rows.length > limit && lastItem !== undefined ? { n: limit, last: lastItem } : undefined };
}
