import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ENV_KEYS, loadConfig } from '../../src/config/load.js';
import { startNodeFlags } from '../support/cli-process.js';

/** The Dockerfile, docker-compose.yml and .ci/run agree with each other and with the config loader. */
const root = join(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
const instruction = (name: string) => instructions.filter((line) => line.startsWith(`${name} `)).map((line) => line.slice(name.length + 1).trim());
const lastStage = instructions.slice(instructions.findLastIndex((line) => line.startsWith('FROM ')));

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
