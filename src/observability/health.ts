import { open, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetadataRepo } from '../ports/metadata-repo.js';

export interface CheckResult {
  ok: boolean;
  /** Why it failed. */
  error?: string;
}

export interface Readiness {
  ready: boolean;
  checks: {
    metadata: CheckResult;
    dataDir: CheckResult;
    diskSpace: CheckResult & { freeBytes?: number; minFreeBytes: number };
    /** Whether the mirror's own writes of fetched content have been failing (it passes content through unstored then). */
    storage: CheckResult;
    /** An object store holding the blobs (storage.s3) answers: present only then. */
    blobStore?: CheckResult;
  };
}

interface AreaState {
  writable: boolean;
  failure: { operation: string; code: string | undefined } | undefined;
}

export interface ReadinessOptions {
  metadata: Pick<MetadataRepo, 'listRepositories'>;
  /** The data dir (free space is measured on its filesystem). */
  dataDir: string;
  /** Where the write probe goes: the data dir's tmp/, where fills write. */
  tmpDir: string;
  /** Our instance id, in the probe's name (a leftover is removed by the start-up sweep of tmp/). */
  instance: string;
  minFreeBytes: number;
  /** The state of the mirror's own writes (core/storage-health.ts), when known. */
  storage?: { snapshot(): { writable: boolean; blobs: AreaState; metadata: AreaState } } | undefined;
  /** A check that has not answered by then fails (a hung disk must not hang the probe). */
  timeoutMs?: number;
  /** The blobs' object store, when they are not in the data dir: one cheap request that must answer. */
  blobStore?: { probe(): Promise<void> } | undefined;
}

/**
 * Can this instance do its job: the metadata store answers, the data dir takes a write
 * that reaches the disk (create, write, fsync, unlink), and its filesystem has room. Never
 * touches the upstream: an upstream outage is what the cache is for.
 */
export class ReadinessProbe {
  readonly #opts: ReadinessOptions;
  #sequence = 0;

  constructor(opts: ReadinessOptions) {
    this.#opts = opts;
  }

  async check(): Promise<Readiness> {
    const timeout = this.#opts.timeoutMs ?? 5000;
    const store = this.#opts.blobStore;
    const [metadata, dataDir, diskSpace, blobStore] = await Promise.all([
      settle(() => this.#metadata(), timeout),
      settle(() => this.#writeProbe(), timeout),
      this.#diskSpace(timeout),
      store ? settle(() => store.probe(), timeout) : undefined,
    ]);
    const storage = this.#storage();
    const ready = metadata.ok && dataDir.ok && diskSpace.ok && storage.ok && (blobStore?.ok ?? true);
    return { ready, checks: { metadata, dataDir, diskSpace, storage, ...(blobStore ? { blobStore } : {}) } };
  }

  /** Recent writes of fetched blobs or their records failed (and none has worked since): not ready. */
  #storage(): CheckResult {
    const snapshot = this.#opts.storage?.snapshot();
    if (!snapshot || snapshot.writable) return { ok: true };
    const failing = (['blobs', 'metadata'] as const).filter((area) => !snapshot[area].writable);
    const why = failing.map((area) => {
      const failure = snapshot[area].failure;
      return `${area}: ${failure ? `${failure.operation}${failure.code ? ` (${failure.code})` : ''}` : 'not writable'}`;
    });
    return { ok: false, error: `the mirror's writes are failing, content is passed through unstored: ${why.join('; ')}` };
  }

  async #metadata(): Promise<void> {
    await this.#opts.metadata.listRepositories('', 1);
  }

  async #writeProbe(): Promise<void> {
    const path = join(this.#opts.tmpDir, `${this.#opts.instance}.readyz.${++this.#sequence}`);
    const file = await open(path, 'wx');
    try {
      await file.write('cargohold readiness probe\n');
      await file.sync();
    } finally {
      await file.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
    }
  }

  async #diskSpace(timeout: number): Promise<Readiness['checks']['diskSpace']> {
    const minFreeBytes = this.#opts.minFreeBytes;
    let freeBytes: number | undefined;
    const result = await settle(async () => {
      const stats = await statfs(this.#opts.dataDir);
      // bavail, not bfree: the blocks an unprivileged writer may still use.
      freeBytes = stats.bavail * stats.bsize;
      if (freeBytes < minFreeBytes)
        throw new Error(`${freeBytes} bytes free on the data dir's filesystem, below health.minFreeBytes (${minFreeBytes})`);
    }, timeout);
    return { ...result, ...(freeBytes === undefined ? {} : { freeBytes }), minFreeBytes };
  }
}

async function settle(check: () => Promise<void>, timeoutMs: number): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([check(), timedOut]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: describe(err) };
  } finally {
    clearTimeout(timer);
  }
}

function describe(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  const message = err instanceof Error ? err.message : String(err);
  // A StorageError names the operation; its cause names the system error.
  return cause instanceof Error && !message.includes(cause.message) ? `${message}: ${cause.message}` : message;
}
