import { describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors/storage-error.js';

const failure = (code: string) => new StorageError('metadata: record blob', Object.assign(new Error('failed'), { code }));

describe('StorageError reasons', () => {
  it('reads PostgreSQL SQLSTATEs as it reads system and SQLite codes', () => {
    expect([failure('53100'), failure('42501'), failure('25006'), failure('08006')].map((e) => [e.reason, e.systemCode])).toEqual([
      ['no-space', '53100'],
      ['permission', '42501'],
      ['read-only', '25006'],
      ['other', '08006'],
    ]);
    expect([failure('ENOSPC'), failure('SQLITE_FULL'), failure('SQLITE_IOERR_WRITE')].map((e) => e.reason)).toEqual(['no-space', 'no-space', 'io']);
  });
});
