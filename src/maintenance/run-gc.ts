import type { Services } from '../services.js';
import type { EvictionReport } from './evictor.js';
import type { GcReport } from './gc.js';

/** What `cargohold gc` does and reports, on the server or directly. */
export interface GcResult {
  eviction: EvictionReport;
  gc: GcReport;
  /** The store afterwards (a dry run: what it would be, about). */
  store: { blobs: number; bytes: number };
}

/** The cache policy's eviction, then garbage collection. */
export async function runGc(services: Pick<Services, 'maintenance' | 'metadata'>, dryRun: boolean): Promise<GcResult> {
  const eviction = await services.maintenance.evict({ dryRun });
  const gc = await services.maintenance.gc({ dryRun });
  const store = dryRun
    ? { blobs: Math.max(0, eviction.after.blobs - gc.unreferenced.blobs), bytes: Math.max(0, eviction.after.bytes - gc.unreferenced.bytes) }
    : await services.metadata.storeUsage();
  return { eviction, gc, store };
}
