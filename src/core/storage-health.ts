import type { Logger } from 'pino';
import type { StorageError, StorageFailureReason } from '../errors/storage-error.js';

/** The two places the mirror writes: blob bytes (the BlobBackend) and their records (the MetadataRepo). */
export type StorageArea = 'blobs' | 'metadata';

export interface StorageAreaHealth {
  writable: boolean;
  /** When the area stopped being writable (ms since the epoch). */
  since: number | undefined;
  /** The latest failure while not writable. */
  failure: { operation: string; reason: StorageFailureReason; code: string | undefined; at: number } | undefined;
}

export interface StorageHealthSnapshot {
  writable: boolean;
  blobs: StorageAreaHealth;
  metadata: StorageAreaHealth;
}

/**
 * Whether the mirror can store what it fetches. A failed write is an operator's problem
 * (the client is served the verified bytes anyway), so it is logged once per cause: a warn
 * the first time a cause is seen while degraded, debug after, and an info once a later
 * write of that area succeeds. A readiness check reads `snapshot()`.
 */
export class StorageHealth {
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #areas: Record<StorageArea, StorageAreaHealth & { causes: Set<string> }> = {
    blobs: { writable: true, since: undefined, failure: undefined, causes: new Set() },
    metadata: { writable: true, since: undefined, failure: undefined, causes: new Set() },
  };

  constructor(logger: Logger, now: () => number = Date.now) {
    this.#logger = logger;
    this.#now = now;
  }

  get writable(): boolean {
    return this.#areas.blobs.writable && this.#areas.metadata.writable;
  }

  snapshot(): StorageHealthSnapshot {
    const copy = ({ writable, since, failure }: StorageAreaHealth): StorageAreaHealth => ({ writable, since, failure: failure && { ...failure } });
    return { writable: this.writable, blobs: copy(this.#areas.blobs), metadata: copy(this.#areas.metadata) };
  }

  /** A write of this area failed; `what` says what was not stored (for the log). */
  failed(area: StorageArea, err: StorageError, what: Record<string, unknown> = {}): void {
    const state = this.#areas[area];
    const at = this.#now();
    const cause = err.systemCode ?? err.reason;
    if (state.writable) {
      state.writable = false;
      state.since = at;
    }
    state.failure = { operation: err.operation, reason: err.reason, code: err.systemCode, at };
    const fields = { area, reason: err.reason, operation: err.operation, err: err.message, ...what };
    if (state.causes.has(cause)) {
      this.#logger.debug(fields, `storage still degraded: ${cause}`);
      return;
    }
    state.causes.add(cause);
    this.#logger.warn(fields, `storage degraded: ${cause}`);
  }

  /** A write of this area succeeded. */
  succeeded(area: StorageArea): void {
    const state = this.#areas[area];
    if (state.writable) return;
    this.#logger.info({ area, degradedMs: this.#now() - (state.since ?? this.#now()) }, 'storage writable again');
    state.writable = true;
    state.since = undefined;
    state.failure = undefined;
    state.causes.clear();
  }
}
