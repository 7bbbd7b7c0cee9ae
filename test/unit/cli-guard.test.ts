import { afterEach, describe, expect, it, vi } from 'vitest';
import { EnvironmentError, guard, UsageError, wantsDetails } from '../../src/cli/common.js';
import { ConfigError } from '../../src/config/load.js';
import { StorageError } from '../../src/errors/storage-error.js';

/** What guard writes on stderr and returns for a command body that throws err. */
async function guarded(err: unknown, details = false): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  const code = await guard(
    async () => {
      await Promise.resolve();
      throw err; // a command may throw anything
    },
    { details },
  );
  vi.restoreAllMocks();
  return { code, stderr };
}

afterEach(() => vi.restoreAllMocks());

describe('guard: what a failing command prints', () => {
  it('a usage or config problem: one line, the usage hint, exit 2', async () => {
    expect(await guarded(new UsageError('pins takes no arguments'))).toEqual({
      code: 2,
      stderr: "cargohold: pins takes no arguments\nRun 'cargohold --help' for usage.\n",
    });
    expect((await guarded(new ConfigError('invalid config: listen: bad'))).code).toBe(2);
  });

  it('an environment problem: one line, exit 1', async () => {
    expect(await guarded(new EnvironmentError('the data dir /x is a file'))).toEqual({ code: 1, stderr: 'cargohold: the data dir /x is a file\n' });
    const full = new StorageError('metadata: record blob', Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
    expect(await guarded(full)).toEqual({ code: 1, stderr: "cargohold: the mirror's storage failed (metadata: record blob: SQLITE_FULL)\n" });
  });

  it('anything else: one line and a hint, exit 1; the stack only at debug', async () => {
    const err = new TypeError('cannot read properties of undefined\nmore detail');
    expect(await guarded(err)).toEqual({
      code: 1,
      stderr: 'cargohold: unexpected error: cannot read properties of undefined\n(run with --log-level debug for details)\n',
    });
    const detailed = await guarded(err, true);
    expect(detailed.code).toBe(1);
    expect(detailed.stderr.split('\n')[0]).toBe('cargohold: unexpected error: cannot read properties of undefined');
    expect(detailed.stderr).toMatch(/^ {4}at /m);
    expect(await guarded('a string')).toEqual({
      code: 1,
      stderr: 'cargohold: unexpected error: a string\n(run with --log-level debug for details)\n',
    });
  });

  it('debug is asked for by --log-level (either form) or CARGOHOLD_LOG_LEVEL, the flag winning', () => {
    expect(wantsDetails(['--log-level', 'debug'], {})).toBe(true);
    expect(wantsDetails(['--log-level=trace'], {})).toBe(true);
    expect(wantsDetails([], { CARGOHOLD_LOG_LEVEL: 'debug' })).toBe(true);
    expect(wantsDetails(['--log-level', 'info'], { CARGOHOLD_LOG_LEVEL: 'debug' })).toBe(false);
    expect(wantsDetails([], {})).toBe(false);
  });
});
