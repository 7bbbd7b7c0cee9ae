import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ENV_KEYS, loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { startNodeFlags } from '../support/cli-process.js';
import { clientConfig, SNIPPET_MIRROR } from '../support/client-config.js';

/** The Dockerfile, docker-compose.yml and .ci/run agree with each other and with the config loader. */
const root = join(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
const instruction = (name: string) => instructions.filter((line) => line.startsWith(`${name} `)).map((line) => line.slice(name.length + 1).trim());
const lastStage = instructions.slice(instructions.map((line) => line.startsWith('FROM ')).lastIndexOf(true));

/** The environment the final image sets (ENV KEY=VALUE ...). */
function imageEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of lastStage.filter((l) => l.startsWith('ENV '))) {
    for (const [, key, value] of line.slice(4).matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[key as string] = (value as string).replace(/^"|"$/g, '');
  }
  return env;
}

describe('the Docker image', () => {
  it("sets no config key in its environment, so a mounted config file's listen and dataDir apply", () => {
    const env = imageEnv();
    expect(Object.keys(env).filter((key) => key in ENV_KEYS || key === 'CARGOHOLD_CONFIG')).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'cargohold-image-'));
    try {
      const file = join(dir, 'cargohold.yaml');
      writeFileSync(file, 'listen: 127.0.0.1:5001\ndataDir: /srv/cache\n');
      const config = loadConfig({ env: { ...env, CARGOHOLD_CONFIG: file } });
      expect({ listen: config.listen, dataDir: config.dataDir }).toEqual({ listen: '127.0.0.1:5001', dataDir: '/srv/cache' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a config, the defaults listen on 0.0.0.0:5000 and keep the cache in the volume (./data links to it)', () => {
    const config = loadConfig({ env: imageEnv() });
    expect(config.listen).toBe('0.0.0.0:5000');
    expect(instruction('WORKDIR').at(-1)).toBe('/app');
    expect(config.dataDir).toBe('./data');
    const volume = instruction('VOLUME').at(-1);
    expect(volume).toBe('/var/lib/cargohold');
    expect(lastStage.some((l) => l.startsWith('RUN ') && l.includes(`ln -s ${volume} /app/data`))).toBe(true);
  });

  it('runs the CLI with the node flags of npm start, on the Node version .ci/run tests', () => {
    const entrypoint = JSON.parse(instruction('ENTRYPOINT').at(-1) ?? '[]') as string[];
    expect(entrypoint).toEqual(['node', ...startNodeFlags(), 'dist/cli/index.js']);
    const version = /^ARG NODE_VERSION=(\d+)$/m.exec(dockerfile)?.[1];
    expect(version).toBe(/^NODE_NEXT=(\d+)$/m.exec(readFileSync(join(root, '.ci', 'run'), 'utf8'))?.[1]);
    expect(instruction('FROM')).toEqual(['node:${NODE_VERSION}-slim AS build', 'node:${NODE_VERSION}-slim']);
  });

  it('has a HEALTHCHECK with node on /healthz, the same as docker-compose.yml, that exits 0 only on a 2xx', async () => {
    const healthcheck = instruction('HEALTHCHECK').at(-1) ?? '';
    const command = JSON.parse(/CMD (\[.*\])$/.exec(healthcheck)?.[1] ?? '[]') as string[];
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    expect(command[2]).toContain("fetch('http://127.0.0.1:5000/healthz')");
    const compose = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
      services: { cargohold: { healthcheck: { test: string[] }; volumes: string[] } };
    };
    expect(compose.services.cargohold.healthcheck.test).toEqual(['CMD', ...command]);
    expect(compose.services.cargohold.volumes).toContain('cargohold-data:/var/lib/cargohold');

    // The script itself, pointed at a local server answering 200, then 503, then at nothing.
    let status = 200;
    const server = createServer((req, res) => res.writeHead(req.url === '/healthz' ? status : 404).end('{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const probe = async (target: string) =>
      promisify(execFile)(process.execPath, ['-e', (command[2] ?? '').replace('http://127.0.0.1:5000', target)]).then(
        () => 0,
        (err: { code: number }) => err.code,
      );
    try {
      expect(await probe(url)).toBe(0);
      status = 503;
      expect(await probe(url)).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await probe(url)).toBe(1);
  });
});

describe('the client config snippets (config/clients)', () => {
  const files = readdirSync(join(root, 'config', 'clients')).sort();
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('## Point your clients at it'),
    readme.indexOf('\n## ', readme.indexOf('## Point your clients at it') + 1),
  );
  const blocks = [...section.matchAll(/```\w*\n([\s\S]*?)```/g)].map((m) => (m[1] ?? '').trim());

  it('are each linked from the README and shown there as they are, less their comments', () => {
    expect(files).toEqual([
      'containerd-1.7-config.toml',
      'containerd-2-config.toml',
      'containerd-hosts-ghcr.toml',
      'containerd-hosts.toml',
      'docker-daemon.json',
      'k3s-registries-upstreams.yaml',
      'k3s-registries.yaml',
      'podman-registries-upstreams.conf',
      'podman-registries.conf',
    ]);
    for (const file of files) {
      expect(section).toContain(`](config/clients/${file})`);
      const text = clientConfig(file, SNIPPET_MIRROR)
        .split('\n')
        .filter((line) => !line.startsWith('#'))
        .join('\n')
        .trim();
      expect(blocks).toContain(text);
    }
  });

  it('say what the end-to-end tests configure dockerd, containerd and podman with', () => {
    const host = '127.0.0.1:40123';
    expect(JSON.parse(clientConfig('docker-daemon.json', host))).toEqual({ 'registry-mirrors': [`http://${host}`], 'insecure-registries': [host] });
    const lines = (file: string) =>
      clientConfig(file, host)
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines('containerd-hosts.toml')).toEqual([
      'server = "https://registry-1.docker.io"',
      `[host."http://${host}"]`,
      'capabilities = ["pull", "resolve"]',
    ]);
    expect(lines('podman-registries.conf')).toEqual([
      'unqualified-search-registries = ["docker.io"]',
      '[[registry]]',
      'prefix = "docker.io"',
      'location = "docker.io"',
      '[[registry.mirror]]',
      `location = "${host}"`,
      'insecure = true',
    ]);
    expect(parseYaml(clientConfig('k3s-registries.yaml', host))).toEqual({ mirrors: { 'docker.io': { endpoint: [`http://${host}`] } } });
    // Several upstreams: one hosts.toml per registry, podman's mirror locations with the host as a path prefix.
    expect(lines('containerd-hosts-ghcr.toml')).toEqual([
      'server = "https://ghcr.io"',
      `[host."http://${host}"]`,
      'capabilities = ["pull", "resolve"]',
    ]);
    expect(lines('podman-registries-upstreams.conf').filter((l) => l.startsWith('location = "1'))).toEqual([
      `location = "${host}"`,
      `location = "${host}/ghcr.io"`,
      `location = "${host}/quay.io"`,
    ]);
    const endpoint = { endpoint: [`http://${host}`] };
    expect(parseYaml(clientConfig('k3s-registries-upstreams.yaml', host))).toEqual({
      mirrors: { 'docker.io': endpoint, 'ghcr.io': endpoint, 'quay.io': endpoint, 'registry.k8s.io': endpoint },
    });
    expect(lines('containerd-1.7-config.toml')).toEqual([
      'version = 2',
      '[plugins."io.containerd.grpc.v1.cri".registry]',
      'config_path = "/etc/containerd/certs.d"',
    ]);
    expect(lines('containerd-2-config.toml')).toEqual([
      'version = 3',
      '[plugins."io.containerd.cri.v1.images".registry]',
      'config_path = "/etc/containerd/certs.d"',
    ]);
  });
});

describe('config/cargohold.example.yaml', () => {
  /** Every key path of the schema, looking through defaults, optionals and transforms to the objects inside. */
  function keyPaths(schema: unknown, prefix: string[] = []): string[] {
    type Def = { type: string; innerType?: unknown; in?: unknown; shape?: Record<string, unknown> };
    const defOf = (s: unknown) => (s as { _zod: { def: Def } })._zod.def;
    let def = defOf(schema);
    for (;;) {
      if (def.innerType !== undefined) def = defOf(def.innerType);
      else if (def.type === 'pipe') def = defOf(def.in);
      else break;
    }
    if (def.type !== 'object' || !def.shape) return [prefix.join('.')];
    return Object.entries(def.shape).flatMap(([key, inner]) => keyPaths(inner, [...prefix, key]));
  }

  it('names every key of the schema (optional ones as a commented example)', () => {
    const text = readFileSync(join(root, 'config', 'cargohold.example.yaml'), 'utf8');
    // "  # username: myuser" → "  username: myuser": the commented examples count.
    const doc = parseYaml(text.replace(/^(\s*)# ([a-z][A-Za-z0-9]*): /gm, '$1$2: ')) as Record<string, unknown>;
    const missing = keyPaths(configSchema).filter((path) => {
      let node: unknown = doc;
      for (const key of path.split('.')) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
      return node === undefined;
    });
    expect(keyPaths(configSchema)).toContain('upstream.tagTtlRules');
    expect(missing).toEqual([]);
  });
});

describe('config/scale-out (README, "Scale-out")', () => {
  const dir = join(root, 'config', 'scale-out');
  const compose = parseYaml(readFileSync(join(dir, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { environment?: Record<string, string>; hostname?: string; volumes?: string[] }>;
  };
  const replicas = Object.entries(compose.services).filter(([name]) => name.startsWith('cargohold-'));

  it('runs three replicas, each advertising its own address, all on the mounted config with the shared secret from the environment', () => {
    expect(replicas.map(([name]) => name)).toEqual(['cargohold-1', 'cargohold-2', 'cargohold-3']);
    for (const [name, service] of replicas) {
      const env = service.environment ?? {};
      expect(env.CARGOHOLD_ADVERTISE_URL).toBe(`http://${name}:5000`);
      expect(service.hostname).toBe(name);
      // Only variables the config loader knows (and the AWS SDK's credentials).
      for (const key of Object.keys(env)) expect(key in ENV_KEYS || key === 'CARGOHOLD_CONFIG' || key.startsWith('AWS_')).toBe(true);
      expect(service.volumes).toContain('./cargohold.yaml:/etc/cargohold/cargohold.yaml:ro');
      // The config loads as each replica sees it.
      const config = loadConfig({ file: join(dir, 'cargohold.yaml'), env: { ...env, CARGOHOLD_CLUSTER_SECRET: 'x'.repeat(24) } });
      expect(config.metadata.postgres?.url).toBe(env.CARGOHOLD_POSTGRES_URL);
      expect(config.storage.s3?.endpoint).toBe('http://minio:9000');
      expect(config.cluster.advertiseUrl).toBe(`http://${name}:5000`);
      expect(config.cluster.secretEnv).toBe('CARGOHOLD_CLUSTER_SECRET');
      expect(config.listen).toBe('0.0.0.0:5000');
    }
  });

  it('balances over exactly those replicas on their listen port, without buffering, retrying a GET on the next when one is down', () => {
    const nginx = readFileSync(join(dir, 'nginx.conf'), 'utf8');
    expect([...nginx.matchAll(/server (cargohold-\d):5000/g)].map((m) => m[1])).toEqual(replicas.map(([name]) => name));
    for (const line of [
      'proxy_buffering off;',
      'proxy_request_buffering off;',
      'proxy_http_version 1.1;',
      'proxy_next_upstream error timeout http_502;',
    ])
      expect(nginx).toContain(line);
  });
});
