import type { MetadataRepo } from '../ports/metadata-repo.js';
import { localPage } from './tag-list.js';
import type { CatalogService, Page } from './types.js';

/** The catalog of repositories cached here (never the upstream's: Docker Hub has no catalog). */
export class LocalCatalog implements CatalogService {
  readonly #md: MetadataRepo;
  readonly #maxPage: number;

  constructor(metadata: MetadataRepo, maxPage: number) {
    this.#md = metadata;
    this.#maxPage = maxPage;
  }

  async list(n: number | undefined, last: string | undefined, readable?: (repository: string) => boolean): Promise<Page> {
    const limit = Math.min(n ?? this.#maxPage, this.#maxPage);
    if (limit === 0) return { items: [], next: undefined };
    if (!readable) return localPage(await this.#md.listRepositories(last ?? '', limit + 1), limit);
    // Filtered: read on until the page (and one more, to know there is a next) is full or the list ends.
    const items: string[] = [];
    let after = last ?? '';
    for (;;) {
      const batch = await this.#md.listRepositories(after, limit + 1);
      for (const repository of batch) {
        if (!readable(repository)) continue;
        items.push(repository);
        if (items.length > limit) return localPage(items, limit);
      }
      const lastRead = batch.at(-1);
      if (batch.length < limit + 1 || lastRead === undefined) return localPage(items, limit);
      after = lastRead;
    }
  }
}
