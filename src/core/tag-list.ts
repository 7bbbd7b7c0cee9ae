import type { Logger } from 'pino';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import { canServeStale } from './policy.js';
import type { Page, TagService } from './types.js';
import type { Upstream } from './upstream-port.js';

/** Tag lists: the upstream's, page by page; the tags cached here when the upstream fails. */
export class TagList implements TagService {
  readonly #md: MetadataRepo;
  readonly #upstream: Upstream;
  readonly #logger: Logger;
  readonly #maxPage: number;

  constructor(opts: { metadata: MetadataRepo; upstream: Upstream; logger: Logger; maxPage: number }) {
    this.#md = opts.metadata;
    this.#upstream = opts.upstream;
    this.#logger = opts.logger;
    this.#maxPage = opts.maxPage;
  }

  async list(repository: string, n: number | undefined, last: string | undefined): Promise<Page> {
    const limit = Math.min(n ?? this.#maxPage, this.#maxPage);
    if (limit === 0) return { items: [], next: undefined };
    try {
      const page = await this.#upstream.listTags(repository, limit, last);
      // Never pass on more than asked, whatever the upstream sent.
      const items = page.tags.slice(0, limit);
      const lastItem = items.at(-1);
      const more = page.next !== undefined || page.tags.length > limit;
      return { items, next: more && lastItem !== undefined ? { n: limit, last: lastItem } : undefined };
    } catch (err) {
      if (!canServeStale(err)) throw err;
      const local = await this.#md.listTags(repository, last ?? '', limit + 1);
      if (local === undefined) throw err;
      this.#logger.warn({ repository, err: (err as Error).message }, 'upstream failed; listing cached tags');
      return localPage(local, limit);
    }
  }
}

export function localPage(rows: string[], limit: number): Page {
  const items = rows.slice(0, limit);
  const lastItem = items.at(-1);
  return { items, next: rows.length > limit && lastItem !== undefined ? { n: limit, last: lastItem } : undefined };
}
