import type { TrafficSinceStart } from '../observability/traffic.js';
import type { ImageEntry, Inventory, MetadataRepo } from '../ports/metadata-repo.js';

export interface StoreStats {
  inventory: Inventory;
  pins: number;
  /** The images holding the most bytes here, largest first. */
  largest: ImageEntry[];
  /** When any image was last pulled (ms since the epoch); undefined for an empty store. */
  lastPulledAt: number | undefined;
  /** What the running server served since it started (absent when read with no server running). */
  traffic?: TrafficSinceStart;
}

const LARGEST = 10;

/** What `cargohold stats` shows of the store (the server adds its traffic since start). */
export async function collectStats(metadata: MetadataRepo): Promise<StoreStats> {
  await metadata.flushAccessTimes();
  const [inventory, images, pins] = await Promise.all([metadata.inventory(), metadata.listImages(), metadata.listPins()]);
  const largest = [...images].sort((a, b) => b.storedBytes - a.storedBytes || a.repository.localeCompare(b.repository)).slice(0, LARGEST);
  const lastPulledAt = images.length === 0 ? undefined : Math.max(...images.map((i) => i.lastAccessAt));
  return { inventory, pins: pins.length, largest, lastPulledAt };
}
