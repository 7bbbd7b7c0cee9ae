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

  async list(n: number | undefined, last: string | undefined): Promise<Page> {
    const limit = Math.min(n ?? this.#maxPage, this.#maxPage);
    if (limit === 0) return { items: [], next: undefined };
    return localPage(await this.#md.listRepositories(last ?? '', limit + 1), limit);
  }
}
