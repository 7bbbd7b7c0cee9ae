import type { MetadataStore } from '../metadata/store.js';
import { localPage } from './proxy-tags.js';
import type { CatalogService, Page } from './types.js';

/** The catalog of repositories cached here (never the upstream's: Docker Hub has no catalog). */
export class LocalCatalog implements CatalogService {
  readonly #md: MetadataStore;
  readonly #maxPage: number;

  constructor(metadata: MetadataStore, maxPage: number) {
    this.#md = metadata;
    this.#maxPage = maxPage;
  }

  list(n: number | undefined, last: string | undefined): Page {
    const limit = Math.min(n ?? this.#maxPage, this.#maxPage);
    if (limit === 0) return { items: [], next: undefined };
    return localPage(this.#md.listRepositories(last ?? '', limit + 1), limit);
  }
}
