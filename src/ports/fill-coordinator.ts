/**
 * The fill coordination port: who fetches a digest when several requests want it at once.
 * `join` starts the work for a key once and hands every caller the same handle until the
 * work's `done` promise settles; then the key is free again. The implementation is the
 * in-process SingleFlight (src/util/single-flight.ts): replicas keep it in front and
 * coordinate with each other through the Cluster port (ports/cluster.ts), so a replica
 * claims a digest once however many of its clients ask. Passes
 * test/contract/fill-coordinator.contract.ts.
 */
export interface FillCoordinator<T> {
  /** The handle of the work in progress for key, if any. */
  current(key: string): Promise<T> | undefined;
  /**
   * Joins the work in progress for key or starts it with start(). The key stays taken
   * until `done` (derived from the handle) settles, even after every caller has gone.
   */
  join(key: string, start: () => Promise<T>, done: (handle: T) => Promise<unknown>): Promise<T>;
  /** Waits until no work is in progress (graceful shutdown). */
  drain(): Promise<void>;
}
