import { readdirSync, readlinkSync } from 'node:fs';
import { afterEach, expect } from 'vitest';
import { Fill } from '../../src/fill/fill.js';
import { waitFor } from './wait.js';

/**
 * Checked after every test (vitest setupFiles): no fill is left open in this process, no
 * blob or temp file of a test's data dir is still open, and Node never had to close a file
 * handle on garbage collection (DEP0137: a reader that was never released).
 */
const gcClosedHandles: string[] = [];
process.on('warning', (warning) => {
  if ((warning as Error & { code?: string }).code === 'DEP0137' || /Closing file descriptor \d+ on garbage collection/.test(warning.message)) {
    gcClosedHandles.push(warning.message);
  }
});

/** Descriptors of this process open on a blob or temp file under a cargohold test directory. */
export function openDataFiles(): string[] {
  const open: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    if (/\/cargohold-[^/]+\/(?:[^/]+\/)*(?:blobs|tmp)\//.test(target)) open.push(target);
  }
  return open;
}

afterEach(async () => {
  const leftovers = () => ({ openFills: Fill.open, readers: Fill.readers, openFiles: openDataFiles() });
  const clean = () => Fill.open === 0 && Fill.readers === 0 && openDataFiles().length === 0;
  await waitFor(clean, 5000, 'fills, readers and data files to be released').catch(() => undefined);
  expect(leftovers()).toEqual({ openFills: 0, readers: 0, openFiles: [] });
  expect(gcClosedHandles.splice(0)).toEqual([]);
});
