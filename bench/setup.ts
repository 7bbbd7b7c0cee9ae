import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCli, startNodeFlags } from '../test/support/cli-process.js';
import { freePort, startDaemon, startDistribution, type Daemon, type Distribution } from '../test/support/peers.js';
import { waitFor } from '../test/support/wait.js';

/**
 * The peers of the benchmark, all on loopback with their state in one temp dir:
 * cargohold (a child process), distribution (upstream and proxy) and nginx. Every
 * process started is stopped by PID when the workspace closes, even after a failure.
 */
export interface Server {
  name: string;
  url: string;
  /** host:port, as skopeo wants it. */
  host: string;
  /** The process whose VmHWM is the server's peak RSS. */
  pid: number;
  stop(): Promise<void>;
}

export class Workspace {
  readonly root: string;
  readonly #cleanups: Array<() => Promise<void> | void> = [];
  #sequence = 0;

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'cargohold-bench-'));
    // nginx workers run as another user: they must be able to walk to cargohold's blobs.
    chmodSync(this.root, 0o755);
  }

  /** A new empty directory in the workspace. */
  dir(name: string): string {
    const dir = join(this.root, `${name}-${++this.#sequence}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  defer(cleanup: () => Promise<void> | void): void {
    this.#cleanups.push(cleanup);
  }

  /** Stops everything still running (last started first) and removes the temp dir. */
  async close(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (err) {
        console.error(`cleanup failed: ${(err as Error).message}`);
      }
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}

export type LogLevel = 'warn' | 'info';

export interface CargoholdOptions {
  dataDir: string;
  upstream: string;
  logLevel?: LogLevel;
  /** Tag TTL 0: every request by tag revalidates with one upstream HEAD (the pre-TTL behaviour). */
  revalidateTags?: boolean;
}

/** cargohold as `npm start` runs it (`node FLAGS dist/cli/index.js serve`) on a port picked here. */
export async function startCargohold(ws: Workspace, opts: CargoholdOptions): Promise<Server> {
  const port = await freePort();
  const args = [
    'serve',
    '--listen',
    `127.0.0.1:${port}`,
    '--data-dir',
    opts.dataDir,
    '--upstream',
    opts.upstream,
    '--log-level',
    opts.logLevel ?? 'warn',
  ];
  if (opts.revalidateTags) {
    const config = join(opts.dataDir, '..', `ttl0-${port}.yaml`);
    writeFileSync(config, 'upstream:\n  tagTtlSeconds: 0\n  tagTtlRules: []\n');
    args.push('--config', config);
  }
  // BENCH_CPU_PROF=DIR / BENCH_MEM_TRACE=DIR: every cargohold process writes a V8 CPU
  // profile / its peak memory by kind there when it exits.
  const preloads = [process.env.BENCH_CPU_PROF ? 'cpu-profile.mjs' : undefined, process.env.BENCH_MEM_TRACE ? 'memory-trace.mjs' : undefined].flatMap(
    (file) => (file ? [`--import=${join(import.meta.dirname, file)}`] : []),
  );
  const env: NodeJS.ProcessEnv = preloads.length > 0 ? { NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', ...preloads].join(' ').trim() } : {};
  const cli = startCli(args, env, { built: true });
  const child = cli.child;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await cli.exited;
      clearTimeout(timer);
    })());
  ws.defer(stop);
  // A cargohold that dies on its own is a finding: say so, with its output.
  void cli.exited.then(({ code, signal }) => {
    if (!stopping)
      process.stderr.write(`bench: cargohold (pid ${child.pid}) exited by itself (code ${code}, signal ${signal}):\n${cli.output().slice(-4000)}\n`);
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`cargohold exited ${child.exitCode}:\n${cli.output()}`);
        return (await fetch(`${url}/v2/`).catch(() => undefined))?.status === 200;
      },
      30_000,
      'cargohold to answer GET /v2/',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { name: 'cargohold', url, host: `127.0.0.1:${port}`, pid: child.pid as number, stop };
}

export interface DistributionServer extends Server {
  distribution: Distribution;
}

/** The CNCF distribution registry (upstream, or a pull-through proxy of proxyOf). */
export async function startRegistry(ws: Workspace, dir: string, proxyOf?: string): Promise<DistributionServer> {
  const distribution = await startDistribution(dir, proxyOf ? { proxyOf } : {});
  ws.defer(() => distribution.stop());
  return {
    name: proxyOf ? 'distribution proxy' : 'distribution',
    url: distribution.url,
    host: distribution.host,
    pid: distribution.process.pid as number,
    stop: () => distribution.stop(),
    distribution,
  };
}

/** The blob path cargohold keeps for a digest: <data-dir>/blobs/sha256/<ab>/<hex>. */
export function cargoholdBlobPath(dataDir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

/**
 * nginx with sendfile serving cargohold's blob files under the registry's URL:
 * /v2/<any repo>/blobs/sha256:<hex> -> <data-dir>/blobs/sha256/<ab>/<hex>.
 */
export async function startNginx(ws: Workspace, dataDir: string): Promise<Server> {
  const prefix = ws.dir('nginx');
  const port = await freePort();
  mkdirSync(join(prefix, 'temp'));
  const conf = [
    'worker_processes 2;',
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    '  sendfile on;',
    '  tcp_nopush on;',
    '  keepalive_requests 100000;',
    '  default_type application/octet-stream;',
    `  client_body_temp_path ${join(prefix, 'temp')};`,
    `  proxy_temp_path ${join(prefix, 'temp')};`,
    '  server {',
    `    listen 127.0.0.1:${port};`,
    "    location = /v2/ { return 200 '{}'; }",
    `    location ~ "^/v2/.+/blobs/sha256:([0-9a-f]{2})([0-9a-f]{62})$" { alias ${join(dataDir, 'blobs', 'sha256')}/$1/$1$2; }`,
    '  }',
    '}',
  ].join('\n');
  const confFile = join(prefix, 'nginx.conf');
  writeFileSync(confFile, conf);
  const daemon = startDaemon('nginx', ['-c', confFile, '-p', prefix, '-g', 'daemon off;'], join(prefix, 'stderr.log'));
  ws.defer(() => daemon.stop());
  const url = `http://127.0.0.1:${port}`;
  await answering(url, daemon, 'nginx');
  return { name: 'nginx', url, host: `127.0.0.1:${port}`, pid: daemon.process.pid as number, stop: () => daemon.stop() };
}

/** The plain node:http file server (bench/node-file-server.mjs) on cargohold's blob files, with npm start's node flags. */
export async function startNodeFileServer(ws: Workspace, dataDir: string): Promise<Server> {
  const port = await freePort();
  const script = join(import.meta.dirname, 'node-file-server.mjs');
  const daemon = startDaemon(process.execPath, [...startNodeFlags(), script, String(port), dataDir], join(ws.dir('node-file-server'), 'stderr.log'));
  ws.defer(() => daemon.stop());
  const url = `http://127.0.0.1:${port}`;
  await answering(url, daemon, 'the node file server');
  return { name: 'node file server', url, host: `127.0.0.1:${port}`, pid: daemon.process.pid as number, stop: () => daemon.stop() };
}

export type RelayMode = 'http' | 'hash' | 'pipe';

/** A plain Node relay (bench/node-relay.mjs) in front of the upstream, with npm start's node flags. */
export async function startNodeRelay(ws: Workspace, upstreamUrl: string, mode: RelayMode): Promise<Server> {
  const port = await freePort();
  const script = join(import.meta.dirname, 'node-relay.mjs');
  const daemon = startDaemon(
    process.execPath,
    [...startNodeFlags(), script, String(port), upstreamUrl, mode],
    join(ws.dir(`node-relay-${mode}`), 'stderr.log'),
  );
  ws.defer(() => daemon.stop());
  const url = `http://127.0.0.1:${port}`;
  await answering(url, daemon, `the node relay (${mode})`);
  return { name: `node relay (${mode})`, url, host: `127.0.0.1:${port}`, pid: daemon.process.pid as number, stop: () => daemon.stop() };
}

/** Waits until a daemon answers GET /v2/ with 200; stops it and throws if it exits or never does. */
async function answering(url: string, daemon: Daemon, name: string): Promise<void> {
  try {
    await waitFor(
      async () => {
        if (daemon.process.exitCode !== null) throw new Error(`${name} exited:\n${daemon.log()}`);
        return (await fetch(`${url}/v2/`).catch(() => undefined))?.status === 200;
      },
      15_000,
      `${name} to answer`,
    );
  } catch (err) {
    await daemon.stop();
    throw err;
  }
}

/** Child PIDs of a process (nginx's workers). */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (children) pids.push(...children.split(/\s+/).map(Number));
  }
  return pids;
}
