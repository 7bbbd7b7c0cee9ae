import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Digest } from '../oci/digest.js';
import { claimFill, type FillProgress } from './fill-lock.js';
import type { FillView } from './fill-view.js';
import { RemoteFill } from './remote-fill.js';
import { Fill, type FillSource } from './fill.js';
import type { StoragePaths } from './paths.js';

export interface StartFill {
  /** Opens the upstream stream; called once however many requests wait. */
  connect: () => Promise<FillSource>;
  /** The rest of the blob from a byte offset, when the upstream broke off mid-blob. */
  resume?: (offset: number) => Promise<Readable>;
  onCommit: (size: number) => void;
}

/**
 * Single flight per digest: the first miss starts a Fill, every later request for the
 * same digest joins it (while connecting, or while bytes flow) until it settles and is
 * removed. Unlike distribution's in-flight map, a joiner never starts a second download.
 * Across processes on one data dir, a lock file does the same (see fill-lock.ts).
 */
export class FillRegistry {
  readonly #fills = new Map<string, Promise<FillView>>();
  readonly #paths: StoragePaths;
  readonly #logger: Logger;
  readonly #lockWaitMs: number;
  #sequence = 0;

  /** lockWaitMs: how long to wait for another process filling the same digest before taking over. */
  constructor(paths: StoragePaths, logger: Logger, lockWaitMs = 10 * 60_000) {
    this.#paths = paths;
    this.#logger = logger;
    this.#lockWaitMs = lockWaitMs;
  }

  /** The fill in progress for this digest, if any (it may still be connecting). */
  current(digest: Digest): Promise<FillView> | undefined {
    return this.#fills.get(digest.value);
  }

  /**
   * Joins the fill in progress (this process's, or another's on the same data dir, which
   * is followed through its temp file) or starts one.
   */
  join(digest: Digest, start: StartFill): Promise<FillView> {
    const existing = this.#fills.get(digest.value);
    if (existing) return existing;
    const pending = (async (): Promise<FillView> => {
      const follow = (progress: FillProgress) => RemoteFill.follow(digest, progress, this.#paths, this.#logger);
      const claim = await claimFill(this.#paths, digest, this.#lockWaitMs, follow);
      if (claim.kind === 'follow') return claim.fill;
      try {
        const source = await start.connect();
        const fill = await Fill.start(
          { digest, paths: this.#paths, tempSequence: ++this.#sequence, logger: this.#logger, onCommit: start.onCommit, resume: start.resume },
          source,
        );
        await claim.announce({ temp: fill.tempPath, size: fill.expectedSize }).catch((err: Error) => {
          this.#logger.debug({ digest: digest.value, err: err.message }, 'cannot announce the fill to other processes; they will wait for its end');
        });
        void fill.settled.then(claim.release);
        return fill;
      } catch (err) {
        await claim.release();
        throw err;
      }
    })();
    this.#fills.set(digest.value, pending);
    const forget = () => {
      if (this.#fills.get(digest.value) === pending) this.#fills.delete(digest.value);
    };
    pending.then((fill) => fill.settled.then(forget), forget);
    return pending;
  }

  /** Waits for every fill in progress to settle (graceful shutdown). */
  async drain(): Promise<void> {
    const all = [...this.#fills.values()].map((p) => p.then((f) => f.settled, () => undefined));
    await Promise.all(all);
  }
}
