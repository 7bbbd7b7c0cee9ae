import type { Logger } from 'pino';
import { forgetThenDelete } from './forget-then-delete.js';
import { parseDigest } from '../oci/digest.js';
import type { BlobBackend } from '../ports/blob-backend.js';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import { storedBlobVerifies } from './blob-hash.js';

export interface GcReport {
  dryRun: boolean;
  /** Blobs no cached manifest references (removed, or to be removed in a dry run). */
  unreferenced: { blobs: number; bytes: number };
  /** Records whose bytes are gone from storage (forgotten). */
  missing: number;
  /** Stored blobs with no record: verified ones recorded, others removed. */
  orphans: { recorded: number; removed: number };
  /** Temp files of dead fills removed (none in a dry run). */
  temps: number;
  /** Candidates kept because they were being read or filled. */
  skippedInUse: number;
}

export interface GcOptions {
  metadata: MetadataRepo;
  backend: BlobBackend;
  inUse: (digest: string) => boolean | Promise<boolean>;
  /** A blob recorded this recently is not unreferenced yet: its manifest may be on its way (a pull in progress). */
  graceMs: number;
  /** Temp files untouched this long belong to dead fills. */
  tempMaxAgeMs: number;
  logger: Logger;
  now?: () => number;
}

const PAGE = 256;

/**
 * Garbage collection: blobs no cached manifest references, records of blobs whose bytes
 * are gone, stored blobs nobody recorded (a kill between a commit and its record: kept if
 * they verify), temp files of dead fills. Nothing being read or filled is touched.
 */
export async function collectGarbage(opts: GcOptions, options: { dryRun: boolean }): Promise<GcReport> {
  const { metadata, backend, inUse, logger } = opts;
  const now = (opts.now ?? Date.now)();
  const { dryRun } = options;
  const report: GcReport = {
    dryRun,
    unreferenced: { blobs: 0, bytes: 0 },
    missing: 0,
    orphans: { recorded: 0, removed: 0 },
    temps: 0,
    skippedInUse: 0,
  };

  // Records whose bytes are gone: forgotten (the next pull fetches the blob again).
  for (let after = ''; ;) {
    const page = await metadata.listBlobs(after, PAGE);
    if (page.length === 0) break;
    for (const entry of page) {
      after = entry.digest;
      if (await inUse(entry.digest)) continue;
      if (await backend.stat(parseDigest(entry.digest))) continue;
      report.missing++;
      if (!dryRun) await metadata.forgetBlob(entry.digest);
    }
  }

  // Stored but never recorded: verified ones are recorded (unlinked: each repository is confirmed upstream on its first GET).
  for await (const info of backend.list()) {
    if ((await inUse(info.digest)) || (await metadata.findBlob('', info.digest))) continue;
    const digest = parseDigest(info.digest);
    const blob = await backend.open(digest);
    if (!blob) continue;
    const good = await storedBlobVerifies(blob, digest);
    if (good) {
      report.orphans.recorded++;
      if (!dryRun) await metadata.recordBlob(info.digest, info.size, []);
    } else {
      report.orphans.removed++;
      if (!dryRun) await backend.delete(digest);
    }
  }

  // Blobs no manifest references, recorded before the grace period.
  for (let after = ''; ;) {
    const page = await metadata.unreferencedBlobs({ createdBefore: now - opts.graceMs, after, limit: PAGE });
    if (page.length === 0) break;
    for (const entry of page) {
      after = entry.digest;
      if (await inUse(entry.digest)) {
        report.skippedInUse++;
        continue;
      }
      if (!dryRun && !(await forgetThenDelete(metadata, backend, inUse, entry.digest, logger))) {
        report.skippedInUse++;
        continue;
      }
      report.unreferenced.blobs++;
      report.unreferenced.bytes += entry.size;
    }
  }

  if (!dryRun) report.temps = await backend.sweepTemps(opts.tempMaxAgeMs);
  logger.info({ ...report }, dryRun ? 'garbage collection (dry run)' : 'garbage collection');
  return report;
}
