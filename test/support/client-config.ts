import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The host:port the snippets in config/clients name for cargohold. */
export const SNIPPET_MIRROR = 'mirror.example:5000';

/**
 * A client config snippet of config/clients (the files the README points to), with the mirror's
 * host:port in place of mirror.example:5000: the e2e tests configure dockerd, containerd and
 * podman with these very files, so what the README tells users is what is tested.
 */
export function clientConfig(file: string, mirrorHost: string): string {
  return readFileSync(join(import.meta.dirname, '..', '..', 'config', 'clients', file), 'utf8').replaceAll(SNIPPET_MIRROR, mirrorHost);
}
