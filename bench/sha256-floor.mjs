// The floor of a cold blob GET through a verifying mirror: the time one Node.js process
// takes to sha256 the blob's bytes, fed in the chunk sizes a stream would feed them
// (undici hands over socket reads of up to 64 KiB; the pump reads 256 KiB). The file is
// read into memory first, so only the hashing is timed. Run with `npm start`'s node
// flags, in a process of its own (as a fresh cargohold is). Plain JS: no tsx in the way.
// node bench/sha256-floor.mjs FILE DIGEST CHUNK_BYTES... -> {"<chunk bytes>": ms, ...}
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

const [file, digest, ...chunkSizes] = process.argv.slice(2);
const bytes = readFileSync(file);
const out = {};
for (const chunk of chunkSizes.map(Number)) {
  const started = performance.now();
  const hash = createHash('sha256');
  for (let at = 0; at < bytes.length; at += chunk) hash.update(bytes.subarray(at, at + chunk));
  const hex = hash.digest('hex');
  out[chunk] = performance.now() - started;
  // The right answer, or the figure is of something else.
  if (`sha256:${hex}` !== digest) throw new Error(`sha256 of ${file} is ${hex}, expected ${digest}`);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
