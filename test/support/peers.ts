import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { waitFor } from './wait.js';

/**
 * Real peers for end-to-end tests: find their tools, start them on loopback with
 * their state in a temp dir, stop them by PID, and unmount what they leave.
 */
export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * The tools a suite needs. Locally a missing tool skips the suite with a message that
 * names it; in CI (CI=true) a missing tool fails the run.
 */
export function missingTools(...names: string[]): string | undefined {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length === 0) return undefined;
  const message = `missing tool(s): ${missing.join(', ')} (apt-get install docker-registry skopeo docker.io podman)`;
  if (process.env.CI === 'true') throw new Error(`${message}: required in CI`);
  console.warn(`skipping suite: ${message}`);
  return message;
}

/** A free loopback port, for daemons that need a port number up front. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface Daemon {
  process: ChildProcess;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

/** Starts a long-running process in its own process group, its output in a log file. */
export function startDaemon(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Daemon {
  const out = createWriteStream(logFile);
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    logFile,
    log: () => readFileSync(logFile, 'utf8'),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-(child.pid as number), 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-(child.pid as number), 'SIGKILL');
        } catch {
          // already gone
        }
      }, 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Runs a command to completion; throws with its output when it fails. Asynchronous on
 * purpose: the mirror under test runs in this process and must keep serving meanwhile.
 */
export function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; allowFail?: boolean } = {},
): Promise<{ stdout: string; stderr: string; status: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 180_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const status = code ?? -1;
      if (status !== 0 && !options.allowFail) {
        reject(new Error(`${command} ${args.join(' ')} exited ${status}${signal ? ` (${signal})` : ''}\n${stdout}\n${stderr}`));
      } else {
        resolve({ stdout, stderr, status });
      }
    });
  });
}

/** Unmounts everything under dir, deepest first (dockerd can leave nsfs and bind mounts). */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const mount of mounts) spawnSync('umount', ['-l', mount], { stdio: 'ignore' });
}

export interface Distribution extends Daemon {
  url: string;
  host: string;
  /** Access-log request lines seen so far: [method, path, status]. */
  requests(): Array<{ method: string; path: string; status: number }>;
}

/** The CNCF distribution registry (Debian docker-registry) on loopback, optionally as a proxy. */
export async function startDistribution(dir: string, options: { proxyOf?: string } = {}): Promise<Distribution> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log: {level: info, formatter: text, accesslog: {disabled: false}}',
    `storage: {filesystem: {rootdirectory: ${join(dir, 'data')}}, delete: {enabled: true}}`,
    `http: {addr: 127.0.0.1:${port}}`,
    ...(options.proxyOf ? [`proxy: {remoteurl: ${options.proxyOf}}`] : []),
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), config);
  const daemon = startDaemon('docker-registry', ['serve', join(dir, 'config.yml')], join(dir, 'registry.log'));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/v2/`).catch(() => undefined))?.status === 200, 15_000, 'distribution to listen');
  return {
    ...daemon,
    url,
    host: `127.0.0.1:${port}`,
    requests: () =>
      [...daemon.log().matchAll(/"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})/g)].map((m) => ({
        method: m[1] as string,
        path: m[2] as string,
        status: Number(m[3]),
      })),
  };
}
