import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientConfig } from './client-config.js';
import { run, unmountUnder } from './peers.js';

export interface Podman {
  podman(...args: string[]): Promise<string>;
  cleanup(): Promise<void>;
}

/** podman (no daemon) with its own registries.conf mirroring docker.io to the mirror (config/clients/podman-registries.conf, or another snippet), vfs storage in dir. */
export function setupPodman(dir: string, mirrorHost: string, snippet = 'podman-registries.conf'): Podman {
  const root = join(dir, 'podman');
  mkdirSync(root, { recursive: true });
  writeFileSync(
    join(root, 'registries.conf'),
    // Top-level keys go before the snippet's tables.
    ['short-name-mode = "permissive"', clientConfig(snippet, mirrorHost)].join('\n'),
  );
  writeFileSync(
    join(root, 'storage.conf'),
    ['[storage]', 'driver = "vfs"', `runroot = "${join(root, 'run')}"`, `graphroot = "${join(root, 'root')}"`].join('\n'),
  );
  writeFileSync(
    join(root, 'containers.conf'),
    [
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(root, 'events.log')}"`,
      '[containers]',
      'netns = "none"',
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
    ].join('\n'),
  );
  const env = {
    ...process.env,
    CONTAINERS_REGISTRIES_CONF: join(root, 'registries.conf'),
    CONTAINERS_STORAGE_CONF: join(root, 'storage.conf'),
    CONTAINERS_CONF: join(root, 'containers.conf'),
  };
  return {
    podman: async (...args: string[]) => (await run('podman', args, { env, timeoutMs: 240_000 })).stdout,
    cleanup: async () => {
      unmountUnder(root);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
