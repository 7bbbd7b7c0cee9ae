import { describe, expect, it } from 'vitest';
import { configFrom } from '../../src/cli/common.js';
import { loadConfig } from '../../src/config/load.js';
import { parseByteSize } from '../../src/config/size.js';
import { methodLabel, routeLabel } from '../../src/http/route-label.js';
import { createLogger } from '../../src/util/logger.js';
import { formatPretty } from '../../src/util/pretty-log.js';

describe('byte sizes', () => {
  it.each([
    [4096, 4096],
    [0, 0],
    ['4096', 4096],
    ['1GiB', 2 ** 30],
    ['1 gib', 2 ** 30],
    ['1Gi', 2 ** 30],
    ['500MB', 500_000_000],
    ['500M', 500_000_000],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['2kB', 2000],
    ['10KiB', 10_240],
    ['3TiB', 3 * 2 ** 40],
    ['7B', 7],
    ['1.7B', 1],
  ])('%j is %d bytes', (value, bytes) => {
    expect(parseByteSize(value)).toBe(bytes);
  });

  it.each([['lots'], [''], ['1 GiBs'], ['-1GB'], ['1e9'], [-5], [1.5], [Number.NaN], ['99999999999999TiB']])('%j is not a size', (value) => {
    expect(parseByteSize(value)).toBeUndefined();
  });

  it('health.minFreeBytes takes a number or a size string, defaults to 1 GiB, and a bad one names the key', () => {
    expect(loadConfig().health.minFreeBytes).toBe(2 ** 30);
    expect(loadConfig({ flags: { health: { minFreeBytes: '500MB' } } }).health.minFreeBytes).toBe(500_000_000);
    expect(loadConfig({ flags: { health: { minFreeBytes: 12345 } } }).health.minFreeBytes).toBe(12345);
    expect(() => loadConfig({ flags: { health: { minFreeBytes: 'plenty' } } })).toThrow(
      'invalid config: health.minFreeBytes: must be a number of bytes or a size such as 500MB or 1GiB',
    );
    expect(() => loadConfig({ flags: { health: { minFree: 1 } } })).toThrow('invalid config: health: unknown key(s) minFree');
  });
});

describe('log format', () => {
  it('logFormat is json by default; --log-format and CARGOHOLD_LOG_FORMAT set it; anything else names the key', () => {
    expect(loadConfig().logFormat).toBe('json');
    expect(configFrom({ 'log-format': 'pretty' }, {}).logFormat).toBe('pretty');
    expect(configFrom({}, { CARGOHOLD_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(() => configFrom({ 'log-format': 'xml' }, {})).toThrow(/^invalid config: logFormat: /);
  });

  it('JSON lines carry the level by name', () => {
    const lines: string[] = [];
    const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
    logger.info({ a: 1 }, 'hello');
    logger.warn('careful');
    logger.debug('details');
    expect(lines.map((l) => (JSON.parse(l) as { level: unknown }).level)).toEqual(['info', 'warn', 'debug']);
  });

  it('pretty: one readable line per entry, the level by name, fields as key=value, credentials still redacted', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => void lines.push(line) }, 'pretty');
    logger.info({ method: 'GET', path: '/v2/', status: 200, bytes: 2, authorization: 'Bearer secret', detail: { upstream: 'status' } }, 'request');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}request method=GET path=\/v2\/ status=200 bytes=2 authorization=\[redacted\] detail=\{"upstream":"status"\}\n$/,
    );
    expect(lines[0]).not.toContain('secret');
  });

  it('pretty: an error shows its message in the line and its stack indented below', () => {
    const out = formatPretty(
      JSON.stringify({ level: 'error', time: 'T', msg: 'unexpected error', err: { type: 'Error', message: 'boom', stack: 'Error: boom\n    at x' } }),
    );
    expect(out).toBe('T ERROR unexpected error err=boom\n    Error: boom\n        at x\n');
    expect(formatPretty('not json')).toBe('not json\n');
  });
});

describe('metric labels', () => {
  it.each([
    ['/v2/', '/v2/'],
    ['/v2', '/v2/'],
    ['/v2/_catalog', '/v2/_catalog'],
    ['/v2/library/node/manifests/latest', '/v2/:name/manifests/:reference'],
    ['/v2/a/b/c/blobs/sha256:abc', '/v2/:name/blobs/:digest'],
    ['/v2/library/node/blobs/uploads/123', '/v2/:name/blobs/uploads/'],
    ['/v2/library/node/tags/list', '/v2/:name/tags/list'],
    ['/v2/library/node/referrers/sha256:abc', '/v2/:name/referrers/:digest'],
    ['/metrics', '/metrics'],
    ['/healthz', '/healthz'],
    ['/readyz', '/readyz'],
    ['/etc/passwd', 'other'],
    ['/metrics/x', 'other'],
  ])('%s is counted as %s', (path, pattern) => {
    expect(routeLabel(path).pattern).toBe(pattern);
  });

  it('methods other than the usual ones are one label', () => {
    expect([methodLabel('GET'), methodLabel('HEAD'), methodLabel('DELETE'), methodLabel('PROPFIND'), methodLabel('BREW')]).toEqual([
      'GET',
      'HEAD',
      'DELETE',
      'other',
      'other',
    ]);
  });
});
