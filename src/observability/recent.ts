/** The last `capacity` items, newest first (the dashboard's recent requests and maintenance runs). */
export class RecentList<T> {
  readonly #items: T[] = [];
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  add(item: T): void {
    this.#items.unshift(item);
    if (this.#items.length > this.#capacity) this.#items.length = this.#capacity;
  }

  list(): T[] {
    return [...this.#items];
  }
}

/** A request as the dashboard's "now" view lists it. */
export interface RecentRequest {
  at: number;
  method: string;
  path: string;
  status: number;
  outcome: string | undefined;
  bytes: number;
  ms: number;
  principal: string;
  /** The repository it named, once resolved. */
  repository: string | undefined;
}

/** An eviction or GC run, as the dashboard lists it. */
export interface MaintenanceRun {
  at: number;
  kind: 'eviction' | 'gc';
  /** Blobs removed, and their bytes. */
  blobs: number;
  bytes: number;
  /** Blobs kept because they were being read or filled. */
  skippedInUse: number;
}
