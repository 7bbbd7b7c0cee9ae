import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientConfig } from './client-config.js';
import { run, startDaemon, unmountUnder, type Daemon } from './peers.js';
import { waitFor } from './wait.js';

export interface Dockerd {
  daemon: Daemon;
  /** The daemon's API socket (for `docker -H unix://...` runs of one's own). */
  socket: string;
  docker(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A real dockerd (vfs storage, no iptables or bridge, its own data-root and socket)
 * whose registry-mirrors point at the mirror (config/clients/docker-daemon.json), as ../shared/PEERS.md describes.
 */
export async function startDockerd(dir: string, mirrorHost: string): Promise<Dockerd> {
  const root = join(dir, 'docker');
  mkdirSync(root, { recursive: true });
  const socket = join(root, 'docker.sock');
  const config = {
    'data-root': join(root, 'root'),
    'exec-root': join(root, 'exec'),
    pidfile: join(root, 'dockerd.pid'),
    hosts: [`unix://${socket}`],
    'storage-driver': 'vfs',
    iptables: false,
    ip6tables: false,
    'ip-forward': false,
    'ip-masq': false,
    bridge: 'none',
    ...(JSON.parse(clientConfig('docker-daemon.json', mirrorHost)) as Record<string, unknown>), // registry-mirrors, insecure-registries
    features: { buildkit: false },
  };
  writeFileSync(join(dir, 'daemon.json'), JSON.stringify(config));
  const daemon = startDaemon('dockerd', ['--config-file', join(dir, 'daemon.json')], join(dir, 'dockerd.log'));
  const docker = async (...args: string[]) => (await run('docker', ['-H', `unix://${socket}`, ...args], { timeoutMs: 240_000 })).stdout;
  const stop = async () => {
    await daemon.stop();
    unmountUnder(root);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => (await run('docker', ['-H', `unix://${socket}`, 'version'], { allowFail: true })).status === 0,
      30_000,
      'dockerd to answer',
    );
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${daemon.log().slice(-2000)}`);
  }
  return { daemon, socket, docker, stop };
}
