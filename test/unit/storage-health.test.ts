import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { StorageHealth } from '../../src/core/storage-health.js';
import { StorageError } from '../../src/errors/storage-error.js';

const failure = (operation: string, code: string) => new StorageError(operation, Object.assign(new Error(code), { code }));

describe('storage health', () => {
  it('logs each cause once while degraded (warn, then debug), says when writes work again, and shows the state', () => {
    const lines: Array<{ level: number; msg: string; area?: string }> = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    let now = 1000;
    const health = new StorageHealth(logger, () => now);
    expect(health.snapshot()).toEqual({
      writable: true,
      blobs: { writable: true, since: undefined, failure: undefined },
      metadata: { writable: true, since: undefined, failure: undefined },
    });
    health.failed('blobs', failure('write temp file', 'ENOSPC'));
    now = 2000;
    health.failed('blobs', failure('write temp file', 'ENOSPC'));
    health.failed('blobs', failure('create temp file', 'EROFS'));
    health.failed('metadata', failure('metadata: record manifest', 'SQLITE_FULL'));
    health.succeeded('metadata');
    health.succeeded('metadata'); // already writable: nothing to say
    expect(health.snapshot()).toEqual({
      writable: false,
      blobs: { writable: false, since: 1000, failure: { operation: 'create temp file', reason: 'read-only', code: 'EROFS', at: 2000 } },
      metadata: { writable: true, since: undefined, failure: undefined },
    });
    now = 5000;
    health.succeeded('blobs');
    health.failed('blobs', failure('write temp file', 'ENOSPC')); // a new episode: said again
    expect(lines.map((l) => [l.level, l.msg, l.area])).toEqual([
      [40, 'storage degraded: ENOSPC', 'blobs'],
      [20, 'storage still degraded: ENOSPC', 'blobs'],
      [40, 'storage degraded: EROFS', 'blobs'],
      [40, 'storage degraded: SQLITE_FULL', 'metadata'],
      [30, 'storage writable again', 'metadata'],
      [30, 'storage writable again', 'blobs'],
      [40, 'storage degraded: ENOSPC', 'blobs'],
    ]);
    expect(health.writable).toBe(false);
  });
});
