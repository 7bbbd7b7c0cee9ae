import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'index.ts');
/** The compiled CLI (`npm run build`), as `npm start` and users run it. */
export const BUILT_CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'index.js');

/** The node flags `npm start` runs the server with (package.json scripts.start: `node FLAGS dist/cli/index.js serve`). */
export function startNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  return words.slice(words.indexOf('node') + 1, words.indexOf('dist/cli/index.js'));
}

export interface CliProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The port from the "cargohold listening" log line. */
  port(): Promise<number>;
}

/** Runs the real CLI (`cargohold ...`) in a child process; tsx loads it in that same process, so its PID is the server's. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, options: { built?: boolean } = {}): CliProcess {
  const entry = options.built ? [...startNodeFlags(), BUILT_CLI] : ['--import', 'tsx', CLI];
  const child = spawn(process.execPath, [...entry, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    exited,
    port: async () => {
      await waitFor(() => /"msg":"cargohold listening"/.test(out) || child.exitCode !== null, 20_000, 'cargohold to listen');
      const match = /"listen":"[^"]*:(\d+)"/.exec(out);
      if (!match) throw new Error(`cargohold did not start:\n${out}`);
      return Number(match[1]);
    },
  };
}
