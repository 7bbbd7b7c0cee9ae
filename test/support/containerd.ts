import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientConfig } from './client-config.js';
import { run, startDaemon, unmountUnder, type Daemon } from './peers.js';
import { waitFor } from './wait.js';

export interface Containerd {
  daemon: Daemon;
  ctr(...args: string[]): Promise<string>;
  /** `ctr image pull` through the hosts.toml that mirrors docker.io to the mirror. */
  pull(reference: string, ...flags: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * containerd (CRI off) with state in dir, and a certs.d/<registry>/hosts.toml pointing at the mirror for each
 * registry (default: docker.io from config/clients/containerd-hosts.toml).
 */
export async function startContainerd(
  dir: string,
  mirrorHost: string,
  hosts: Record<string, string> = { 'docker.io': 'containerd-hosts.toml' },
): Promise<Containerd> {
  const root = join(dir, 'containerd');
  const certs = join(dir, 'certs.d');
  mkdirSync(root, { recursive: true });
  const socket = join(root, 'containerd.sock');
  writeFileSync(
    join(dir, 'containerd.toml'),
    [
      'version = 2',
      `root = "${join(root, 'root')}"`,
      `state = "${join(root, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
    ].join('\n'),
  );
  for (const [registry, file] of Object.entries(hosts)) {
    mkdirSync(join(certs, registry), { recursive: true });
    writeFileSync(join(certs, registry, 'hosts.toml'), clientConfig(file, mirrorHost));
  }
  const daemon = startDaemon('containerd', ['--config', join(dir, 'containerd.toml')], join(dir, 'containerd.log'));
  const ctr = async (...args: string[]) => (await run('ctr', ['-a', socket, ...args], { timeoutMs: 240_000 })).stdout;
  const stop = async () => {
    await daemon.stop();
    unmountUnder(root);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => (await run('ctr', ['-a', socket, 'version'], { allowFail: true })).status === 0, 30_000, 'containerd to answer');
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${daemon.log().slice(-2000)}`);
  }
  return { daemon, ctr, pull: (reference, ...flags) => ctr('image', 'pull', '--hosts-dir', certs, ...flags, reference), stop };
}
