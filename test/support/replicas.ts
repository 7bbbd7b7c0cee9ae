import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ConfigInput } from '../../src/config/schema.js';
import type { Ceph } from './ceph.js';
import { startCli, type CliProcess } from './cli-process.js';
import { freePort } from './peers.js';
import { TEST_UPSTREAM } from './mirror.js';
import { waitFor } from './wait.js';

/** One replica: a real `cargohold serve` process with its own data dir (its spool), on the shared database and bucket. */
export interface Replica {
  name: string;
  url: string;
  port: number;
  dataDir: string;
  /** Its config file (the CLI's admin commands reach the replica through it). */
  configFile: string;
  process: CliProcess;
  /** The replica's log lines, parsed. */
  logs(): Array<Record<string, unknown>>;
  /** SIGKILL: no shutdown, nothing released (its claims expire). */
  kill(): Promise<void>;
  /** SIGTERM, waited for. */
  stop(): Promise<void>;
}

export interface SharedBackends {
  postgresUrl: string;
  ceph: Ceph;
  bucket: string;
  /** Keys under this prefix: each test its own store. */
  prefix: string;
  /** The replicas' shared secret; undefined: they wait for each other's fills to be stored instead of streaming them. */
  secret?: string | undefined;
}

export const CLUSTER_SECRET = 'replica-secret-0123456789abcdef';

/** The config every replica of a test shares (each adds its own listen, data dir and advertised URL). */
export function replicaConfig(upstreamUrl: string, shared: SharedBackends, extra: ConfigInput = {}): ConfigInput {
  return {
    logLevel: 'debug',
    ...extra,
    upstream: {
      ...TEST_UPSTREAM,
      ...extra.upstream,
      url: upstreamUrl,
    },
    metadata: { postgres: { url: shared.postgresUrl, poolSize: 4 } },
    storage: {
      s3: {
        endpoint: shared.ceph.endpoint,
        bucket: shared.bucket,
        region: shared.ceph.region,
        prefix: shared.prefix,
        credentials: shared.ceph.credentials,
        partSizeBytes: '8MiB',
      },
    },
    cluster: { claimTtlMs: 2000, ...(shared.secret === undefined ? {} : { secret: shared.secret }), ...extra.cluster },
    lease: { ttlMs: 2000 },
    shutdownTimeoutMs: 2000,
  };
}

/** Starts one replica process on a free port, advertising it to the others; resolves once it listens. */
export async function startReplica(
  name: string,
  config: ConfigInput,
  options: { dataDir?: string; port?: number; /** the compiled CLI with npm start's node flags (the bench) */ built?: boolean } = {},
): Promise<Replica> {
  const dir = options.dataDir ?? mkdtempSync(join(tmpdir(), `cargohold-${name}-`));
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const file = join(dir, '..', `${name}-${port}.yaml`);
  writeFileSync(file, stringify({ ...config, listen: `127.0.0.1:${port}`, dataDir: dir, cluster: { ...config.cluster, advertiseUrl: url } }));
  const proc = startCli(['serve', '--config', file], {}, { built: options.built === true });
  // /healthz rather than the "listening" line: a replica may log at warn (the bench).
  try {
    await waitFor(
      async () => proc.child.exitCode !== null || (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200,
      20_000,
      `replica ${name} to listen`,
    );
    if (proc.child.exitCode !== null) throw new Error(`replica ${name} did not start:\n${proc.output()}`);
  } catch (err) {
    // Never left running by a start that failed.
    proc.child.kill('SIGKILL');
    await proc.exited;
    rmSync(file, { force: true });
    if (options.dataDir === undefined) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const logs = () =>
    proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const ended = async (signal: NodeJS.Signals) => {
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
    await proc.exited;
    rmSync(file, { force: true });
  };
  return { name, url, port, dataDir: dir, configFile: file, process: proc, logs, kill: () => ended('SIGKILL'), stop: () => ended('SIGTERM') };
}

/** Stops every replica (SIGTERM, then SIGKILL for any left) and removes their data dirs. */
export async function stopReplicas(replicas: Replica[]): Promise<void> {
  await Promise.all(
    replicas.map(async (r) => {
      const timer = setTimeout(() => r.process.child.kill('SIGKILL'), 10_000);
      await r.stop().finally(() => clearTimeout(timer));
      rmSync(r.dataDir, { recursive: true, force: true });
    }),
  );
}
