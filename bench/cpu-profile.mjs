// Preloaded into each cargohold process (NODE_OPTIONS=--import) when BENCH_CPU_PROF=DIR is
// set: Node 20 refuses --cpu-prof in NODE_OPTIONS, so the profiler is started here and the
// profile written to DIR when the process exits. Plain JS: it loads before tsx does.
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';

// Only in the main thread: workers (the hashing thread) inherit the preload.
const dir = isMainThread ? process.env.BENCH_CPU_PROF : undefined;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.on('exit', () => {
    // An in-process inspector session answers synchronously: the file is written before exit.
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `cargohold-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
