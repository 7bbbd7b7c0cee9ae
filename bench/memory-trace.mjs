// Preloaded into each cargohold process (NODE_OPTIONS=--import) when BENCH_MEM_TRACE=DIR is
// set: samples process.memoryUsage() every 50 ms and writes the peak of each field (MB) to
// DIR when the process exits, to tell V8 heap from Buffer memory when RSS peaks.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

// Only in the main thread: workers (the hashing thread) inherit the preload.
const dir = isMainThread ? process.env.BENCH_MEM_TRACE : undefined;
if (dir) {
  const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
  const timer = setInterval(() => {
    const now = process.memoryUsage();
    for (const key of Object.keys(peak)) peak[key] = Math.max(peak[key], now[key]);
  }, 50);
  timer.unref();
  process.on('exit', () => {
    mkdirSync(dir, { recursive: true });
    const mb = Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round(v / 1e6)]));
    writeFileSync(join(dir, `cargohold-${process.pid}.json`), JSON.stringify(mb));
  });
}
