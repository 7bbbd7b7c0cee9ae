import { createDigester, type Digest } from '../oci/digest.js';
import type { StoredBlob } from '../ports/blob-backend.js';

/** Hashes a stored blob's bytes (releasing it); true when they match its digest. onBytes reports progress. */
export async function storedBlobVerifies(blob: StoredBlob, digest: Digest, onBytes: (n: number) => void = () => undefined): Promise<boolean> {
  const hash = createDigester(digest.algorithm);
  if (blob.size === 0) {
    await blob.close();
  } else {
    for await (const chunk of blob.body(0, blob.size - 1).stream()) {
      const bytes = chunk as Buffer;
      hash.update(bytes);
      onBytes(bytes.length);
    }
  }
  return `${digest.algorithm}:${hash.digest('hex')}` === digest.value;
}
