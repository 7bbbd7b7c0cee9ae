import type { Logger } from 'pino';
import { parseDigest } from '../oci/digest.js';
import type { BlobBackend } from '../ports/blob-backend.js';
import type { MetadataRepo } from '../ports/metadata-repo.js';

/**
 * Removes a blob the caller found not in use: its record first (no new reader finds it),
 * then, unless a reader took it meanwhile, its bytes. A reader on another replica
 * publishes its read before it looks the record up, so one that is not seen by this second
 * look found no record and never opens the bytes. One that is seen keeps them: the bytes
 * stay without a record, which the next miss (or GC) verifies and records again. False
 * when the bytes were kept.
 */
export async function forgetThenDelete(
  metadata: MetadataRepo,
  backend: BlobBackend,
  inUse: (digest: string) => boolean | Promise<boolean>,
  digest: string,
  logger: Logger,
): Promise<boolean> {
  await metadata.forgetBlob(digest);
  if (await inUse(digest)) {
    logger.info({ digest }, 'blob taken by a reader while it was being removed: its bytes stay (recorded again on its next use)');
    return false;
  }
  await backend.delete(parseDigest(digest));
  return true;
}
