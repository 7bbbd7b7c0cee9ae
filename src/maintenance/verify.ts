import type { Logger } from 'pino';
import { parseDigest } from '../oci/digest.js';
import type { BlobBackend } from '../ports/blob-backend.js';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import { storedBlobVerifies } from './blob-hash.js';

export interface VerifyProgress {
  blobs: number;
  bytes: number;
  totalBlobs: number;
  totalBytes: number;
}

export interface VerifyReport {
  repair: boolean;
  checked: number;
  bytes: number;
  /** Recorded, but their bytes are gone (forgotten with repair). */
  missing: string[];
  /** Bytes that do not hash to their digest (removed and forgotten with repair). */
  corrupt: string[];
  /** Stored with a size other than recorded (removed and forgotten with repair). */
  wrongSize: string[];
}

export interface VerifyOptions {
  metadata: MetadataRepo;
  backend: BlobBackend;
  inUse: (digest: string) => boolean | Promise<boolean>;
  logger: Logger;
}

const PAGE = 256;

/** Re-hashes every recorded blob; with repair, what is missing is forgotten and what is corrupt removed (the next pull refetches it). */
export async function verifyStore(
  opts: VerifyOptions,
  options: { repair: boolean; onProgress?: (p: VerifyProgress) => void },
): Promise<VerifyReport> {
  const { metadata, backend, inUse, logger } = opts;
  const total = await metadata.storeUsage();
  const report: VerifyReport = { repair: options.repair, checked: 0, bytes: 0, missing: [], corrupt: [], wrongSize: [] };
  const progress = () => options.onProgress?.({ blobs: report.checked, bytes: report.bytes, totalBlobs: total.blobs, totalBytes: total.bytes });
  const drop = async (digest: string, removeBytes: boolean) => {
    if (!options.repair || (await inUse(digest))) return;
    await metadata.forgetBlob(digest);
    if (removeBytes) await backend.delete(parseDigest(digest));
  };
  for (let after = ''; ;) {
    const page = await metadata.listBlobs(after, PAGE);
    if (page.length === 0) break;
    for (const entry of page) {
      after = entry.digest;
      const digest = parseDigest(entry.digest);
      const blob = await backend.open(digest);
      report.checked++;
      if (!blob) {
        report.missing.push(entry.digest);
        logger.warn({ digest: entry.digest }, 'verify: recorded blob missing from storage');
        await drop(entry.digest, false);
      } else if (blob.size !== entry.size) {
        await blob.close();
        report.wrongSize.push(entry.digest);
        logger.warn({ digest: entry.digest, recorded: entry.size, stored: blob.size }, 'verify: stored blob has the wrong size');
        await drop(entry.digest, true);
      } else if (
        !(await storedBlobVerifies(blob, digest, (n) => {
          report.bytes += n;
          progress();
        }))
      ) {
        report.corrupt.push(entry.digest);
        logger.warn({ digest: entry.digest }, 'verify: stored blob does not match its digest');
        await drop(entry.digest, true);
      }
      progress();
    }
  }
  return report;
}
