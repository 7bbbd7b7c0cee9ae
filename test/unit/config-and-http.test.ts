import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { parseListen } from '../../src/config/schema.js';
import { nextLink, parsePagination } from '../../src/http/pagination.js';
import { matchV2Path } from '../../src/http/v2-path.js';

const tempDir = mkdtempSync(join(tmpdir(), 'cargohold-cfg-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));
let files = 0;

function yamlFile(text: string): string {
  const file = join(tempDir, `c${files++}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe('config', () => {
  it('has defaults for everything', () => {
    const config = loadConfig();
    expect(config.listen).toBe('0.0.0.0:5000');
    expect(config.dataDir).toBe('./data');
    expect(config.upstream.url).toBe('https://registry-1.docker.io');
    expect(config.limits.maxManifestBytes).toBe(4 * 1024 * 1024);
    expect(Object.isFrozen(config.upstream)).toBe(true);
  });
  it('merges file < environment < flags', () => {
    const file = yamlFile('listen: "127.0.0.1:6000"\ndataDir: /from/file\nupstream:\n  url: http://file:1\n  bodyTimeoutMs: 1234\n');
    const config = loadConfig({
      file,
      env: { CARGOHOLD_DATA_DIR: '/from/env', CARGOHOLD_UPSTREAM: 'http://env:2' },
      flags: { upstream: { url: 'http://flag:3' } },
    });
    expect(config.listen).toBe('127.0.0.1:6000');
    expect(config.dataDir).toBe('/from/env');
    expect(config.upstream.url).toBe('http://flag:3');
    expect(config.upstream.bodyTimeoutMs).toBe(1234);
  });
  it.each([
    ['listen: nowhere', /listen: must be HOST:PORT/],
    ['upstream:\n  url: ftp://x', /upstream\.url: must be an http/],
    ['upstream:\n  connectTimeoutMs: -1', /upstream\.connectTimeoutMs/],
    ['bogus: 1', /unknown key\(s\) bogus/],
    ['upstream:\n  username: only', /upstream: username and password go together/],
    ['logLevel: loud', /logLevel/],
    ['metadata:\n  postgres:\n    url: http://db:5432/x', /metadata\.postgres\.url: must be a postgres:\/\/ or postgresql:\/\/ URL/],
    ['metadata:\n  postgres:\n    url: postgres://db/x\n    poolSize: 0', /metadata\.postgres\.poolSize/],
    ['metadata:\n  sqlite: {}', /unknown key\(s\) sqlite/],
    ['- a\n- b', /must hold a YAML mapping/],
    ['a: [', /not valid YAML/],
  ])('refuses %j with one line naming the key', (text, message) => {
    expect(() => loadConfig({ file: yamlFile(text) })).toThrow(message);
    try {
      loadConfig({ file: yamlFile(text) });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message.split('\n')).toHaveLength(1);
    }
  });
  it('metadata: SQLite by default; metadata.postgres from the file or CARGOHOLD_POSTGRES_URL, poolSize 10 by default', () => {
    expect(loadConfig().metadata).toEqual({});
    const url = 'postgres://cargohold:pw@db.internal:5432/cargohold';
    expect(loadConfig({ env: { CARGOHOLD_POSTGRES_URL: url } }).metadata).toEqual({ postgres: { url, poolSize: 10 } });
    const file = yamlFile(`metadata:\n  postgres:\n    url: postgresql://db/x\n    poolSize: 3\n`);
    expect(loadConfig({ file }).metadata).toEqual({ postgres: { url: 'postgresql://db/x', poolSize: 3 } });
  });
  it('reports an unreadable file', () => {
    expect(() => loadConfig({ file: '/nonexistent/cargohold.yaml' })).toThrow(/cannot read config file/);
  });
  it('parses listen addresses', () => {
    expect(parseListen('0.0.0.0:5000')).toEqual({ host: '0.0.0.0', port: 5000 });
    expect(parseListen(':5000')).toEqual({ host: '0.0.0.0', port: 5000 });
    expect(parseListen('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(parseListen('host:99999')).toBeUndefined();
    expect(parseListen('5000')).toBeUndefined();
  });
  it('the example config file is valid and matches the defaults', () => {
    const example = loadConfig({ file: join(import.meta.dirname, '..', '..', 'config', 'cargohold.example.yaml') });
    expect(example).toEqual(loadConfig());
  });
});

describe('/v2/ paths', () => {
  it('matches names with slashes from the end', () => {
    expect(matchV2Path('/v2/')).toEqual({ area: 'base' });
    expect(matchV2Path('/v2')).toEqual({ area: 'base' });
    expect(matchV2Path('/v2/_catalog')).toEqual({ area: 'catalog' });
    expect(matchV2Path('/v2/a/b/c/manifests/latest')).toEqual({ area: 'manifests', name: 'a/b/c', reference: 'latest' });
    expect(matchV2Path('/v2/a/blobs/sha256:x')).toEqual({ area: 'blobs', name: 'a', digest: 'sha256:x' });
    expect(matchV2Path('/v2/a/blobs/uploads/')).toEqual({ area: 'uploads', name: 'a' });
    expect(matchV2Path('/v2/a/blobs/uploads/123')).toEqual({ area: 'uploads', name: 'a' });
    expect(matchV2Path('/v2/a/manifests/x/tags/list')).toEqual({ area: 'tags', name: 'a/manifests/x' });
    expect(matchV2Path('/v3/a/manifests/x')).toBeUndefined();
  });
  it('parses pagination and builds Link headers', () => {
    expect(parsePagination('10', 'b')).toEqual({ n: 10, last: 'b' });
    expect(parsePagination(undefined, '')).toEqual({ n: undefined, last: undefined });
    expect(() => parsePagination('1e3', undefined)).toThrow(/non-negative integer/);
    expect(nextLink('/v2/_catalog', { items: ['a'], next: { n: 1, last: 'a/b' } })).toBe('</v2/_catalog?n=1&last=a%2Fb>; rel="next"');
    expect(nextLink('/v2/_catalog', { items: ['a'], next: undefined })).toBeUndefined();
  });
});
