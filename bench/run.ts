import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { run } from '../test/support/peers.js';
import { coldConcurrent, coldPull, memoryScenario } from './cold.js';
import { coldOne } from './cold-one.js';
import { replicasScenario } from './replicas.js';
import { emptyResults, type Meta, type Results } from './results.js';
import { Workspace } from './setup.js';
import { renderMarkdown } from './table.js';
import { warmManifests, warmThroughput, type WarmServers } from './warm.js';
import { createWorld } from './world.js';

/**
 * `npm run bench`: cargohold side by side with nginx and the distribution proxy, all
 * on loopback. Prints the markdown tables and writes them to bench/RESULTS.md.
 * Knobs (for quick trials): BENCH_RUNS (3), BENCH_SECONDS (5), BENCH_BIG_MIB (200),
 * BENCH_HUGE_MIB (1024; 0 skips the memory scenario), BENCH_OUT (bench/RESULTS.md),
 * BENCH_CPU_PROF=DIR (V8 CPU profiles of every cargohold process), BENCH_MEM_TRACE=DIR (peak
 * memory by kind of every cargohold process), BENCH_ONLY=1,2,3,4,7,8,mem (run only these scenarios;
 * 4 needs 1; the tables then go to $TMPDIR/cargohold-bench-partial.md unless BENCH_OUT says
 * otherwise, so a partial run never replaces the full results).
 */
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const RUNS = env('BENCH_RUNS', 3);
const SECONDS = env('BENCH_SECONDS', 5);
const BIG_BYTES = env('BENCH_BIG_MIB', 200) * 1024 * 1024;
const HUGE_BYTES = env('BENCH_HUGE_MIB', 1024) * 1024 * 1024;
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const OUT = process.env.BENCH_OUT ?? (ONLY ? join(tmpdir(), 'cargohold-bench-partial.md') : join(import.meta.dirname, 'RESULTS.md'));
const wanted = (scenario: string) => !ONLY || ONLY.includes(scenario);

async function firstLine(command: string, args: string[]): Promise<string> {
  const { stdout, stderr } = await run(command, args, { allowFail: true }).catch(() => ({ stdout: '', stderr: 'not found' }));
  return (stdout.trim() || stderr.trim()).split('\n')[0] ?? '';
}

/** The commit measured, and whether src/ differs from it. */
async function treeState(): Promise<string> {
  const repo = join(import.meta.dirname, '..');
  const head = await firstLine('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']);
  const changed = await firstLine('git', ['-C', repo, 'status', '--porcelain', '--', 'src']);
  return changed ? `${head} + uncommitted changes in src/` : head;
}

async function machine(): Promise<Meta> {
  return {
    date: await firstLine('date', ['-u']),
    nproc: availableParallelism(),
    node: process.version,
    memoryGiB: totalmem() / 1024 ** 3,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    kernel: release(),
    tools: [
      await firstLine('docker-registry', ['--version']),
      await firstLine('nginx', ['-v']),
      await firstLine('wrk', ['-v']),
      await firstLine('skopeo', ['--version']),
      await firstLine('curl', ['--version']),
      await firstLine('ab', ['-V']),
    ].map((s) =>
      (
        s
          .replace(/\s+/g, ' ')
          .replace('This is ApacheBench, Version', 'ab')
          .split(/ \(| Copyright| <\$Revision/)[0] as string
      ).trim(),
    ),
    commit: await treeState(),
    runs: RUNS,
    seconds: SECONDS,
    loadBefore: loadavg()[0] as number,
  };
}

async function step<T>(results: Results, name: string, fn: () => Promise<T>): Promise<T | undefined> {
  const started = performance.now();
  process.stderr.write(`bench: ${name}...\n`);
  try {
    return await fn();
  } catch (err) {
    results.notes.push(`${name} failed: ${(err as Error).message.split('\n')[0]}`);
    process.stderr.write(`bench: ${name} failed: ${(err as Error).stack}\n`);
    return undefined;
  } finally {
    process.stderr.write(`bench: ${name} took ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  }
}

async function main(): Promise<number> {
  const started = performance.now();
  const ws = new Workspace();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`bench: ${signal}: stopping everything\n`);
    void ws.close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const results = emptyResults(await machine());
  try {
    const world = await step(results, 'setup (upstream, images)', () => createWorld(ws, { runs: RUNS, seconds: SECONDS, bigBytes: BIG_BYTES }));
    if (!world) throw new Error(results.notes.join('; '));
    results.blobSize = world.big.size;
    const warm: WarmServers | undefined = wanted('1')
      ? await step(results, 'scenario 1: warm blob throughput', () => warmThroughput(world, results))
      : undefined;
    if (warm && wanted('4')) await step(results, 'scenario 4: warm manifests', () => warmManifests(world, warm, results));
    if (wanted('2')) await step(results, 'scenario 2: cold pull', () => coldPull(world, results));
    if (wanted('3')) await step(results, 'scenario 3: 20 cold clients', () => coldConcurrent(world, results));
    if (wanted('7')) await step(results, 'scenario 7: one cold client on the big blob', () => coldOne(world, results));
    if (wanted('8')) await step(results, 'scenario 8: 20 cold clients over 3 replicas on PostgreSQL and S3', () => replicasScenario(world, results));
    if (HUGE_BYTES > 0 && wanted('mem'))
      results.memory = await step(results, 'memory: 20 clients on a large blob', () => memoryScenario(world, HUGE_BYTES));
  } finally {
    await ws.close();
  }
  results.meta.totalSeconds = (performance.now() - started) / 1000;
  results.meta.loadAfter = loadavg()[0];
  const markdown = renderMarkdown(results);
  process.stdout.write(`${markdown}\n`);
  writeFileSync(OUT, `${markdown}\n`);
  process.stderr.write(`bench: wrote ${OUT}\n`);
  return results.notes.some((n) => n.includes('failed:')) ? 1 : 0;
}

process.exitCode = await main();
