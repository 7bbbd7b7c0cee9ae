import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { openDatabase } from '../../src/metadata/db.js';
import { startCli } from '../support/cli-process.js';
import { mountReadOnly } from '../support/tmpfs.js';

/**
 * Every command turns an unusable data dir into one line on stderr and exit 1 (a usage
 * problem: exit 2), never a stack trace; commands other than serve never create a data dir.
 */
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const fn of cleanup.splice(0).reverse()) fn();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cargohold-clierr-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A data dir as serve leaves it: the layout and a migrated database. */
function dataDir(): string {
  const dir = join(tempDir(), 'data');
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  mkdirSync(join(dir, 'tmp'));
  openDatabase(join(dir, 'cargohold.db')).close();
  return dir;
}

function readOnly(ctx: TestContext, path: string): void {
  const mounted = mountReadOnly(path);
  if (typeof mounted === 'string') ctx.skip(mounted);
  else cleanup.push(mounted); // runs before the temp dir is removed (reverse order)
}

/** Each command with arguments that would otherwise work; the upstream is never reached (nothing listens on port 9). */
const COMMANDS: Record<string, string[]> = {
  serve: ['serve', '--listen', '127.0.0.1:0'],
  warm: ['warm', 'node:1'],
  pin: ['pin', 'node:1'],
  unpin: ['unpin', 'node:1'],
  pins: ['pins'],
  gc: ['gc'],
  verify: ['verify'],
  stats: ['stats'],
  ls: ['ls'],
};
const NAMES = Object.keys(COMMANDS);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

async function run(args: string[]): Promise<Result> {
  const cli = startCli(args, { CARGOHOLD_UPSTREAM: 'http://127.0.0.1:9', CARGOHOLD_LOG_LEVEL: '' });
  let stdout = '';
  let stderr = '';
  cli.child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  cli.child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => cli.child.kill('SIGKILL'), 60_000); // a command that hangs fails below, not the suite
  const code = await new Promise<number | null>((resolve) => cli.child.once('close', (c) => resolve(c)));
  clearTimeout(killer);
  return { code, stdout, stderr };
}

/** Every command on the data dir, three at a time (each child compiles the CLI with tsx). */
async function runAll(dir: string, extra: (name: string) => string[] = () => []): Promise<Record<string, Result>> {
  const results: Record<string, Result> = {};
  const queue = [...NAMES];
  await Promise.all(
    [1, 2, 3].map(async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        results[name] = await run([...(COMMANDS[name] ?? []), '--data-dir', dir, ...extra(name)]);
      }
    }),
  );
  return results;
}

/** Each command failed with exactly this one line on stderr (serve: "cannot start: ..."), exit 1, nothing on stdout. */
function expectOneLine(results: Record<string, Result>, line: string, serveLine = `cannot start: ${line}`): void {
  for (const name of NAMES) {
    const result = results[name];
    expect({ name, ...result }).toEqual({ name, code: 1, stdout: '', stderr: `cargohold: ${name === 'serve' ? serveLine : line}\n` });
  }
}

describe('an unusable data dir: one line, exit 1, from every command', () => {
  it('a file', async () => {
    const file = join(tempDir(), 'data');
    writeFileSync(file, 'not a directory');
    expectOneLine(await runAll(file), `the data dir ${file} is a file`);
  }, 120_000);

  it('a path through a file', async () => {
    const file = join(tempDir(), 'file');
    writeFileSync(file, '');
    const dir = join(file, 'data');
    expectOneLine(await runAll(dir), `cannot use the data dir ${dir}: a part of its path is a file, not a directory`);
  }, 120_000);

  it('on a read-only filesystem', async (ctx) => {
    const dir = dataDir();
    readOnly(ctx, dir);
    expectOneLine(await runAll(dir), `the data dir ${dir} is on a read-only filesystem; cargohold needs to write to it`);
  }, 120_000);

  it('a read-only database', async (ctx) => {
    const dir = dataDir();
    readOnly(ctx, join(dir, 'cargohold.db'));
    expectOneLine(await runAll(dir), `the metadata database ${dir}/cargohold.db is on a read-only filesystem; cargohold needs to write to it`);
  }, 120_000);

  it('a corrupt database', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'cargohold.db'), 'garbage, not SQLite '.repeat(300));
    expectOneLine(
      await runAll(dir),
      `the metadata database ${dir}/cargohold.db is corrupt or not a SQLite database (SQLITE_NOTADB); move it aside and cargohold starts a new one`,
    );
  }, 120_000);

  it('missing: refused, and not created, by every command but serve; serve --no-create refuses too', async () => {
    const dir = join(tempDir(), 'typo');
    const results = await runAll(dir, (name) => (name === 'serve' ? ['--no-create'] : []));
    expectOneLine(
      results,
      `no data dir at ${dir}; start \`cargohold serve --data-dir ${dir}\` first or check the path`,
      `cannot start: no data dir at ${dir} (--no-create); create it or check the path`,
    );
    expect(existsSync(dir)).toBe(false);
  }, 120_000);

  it('missing: serve creates it', async () => {
    const dir = join(tempDir(), 'new', 'data');
    const serve = startCli(['serve', '--listen', '127.0.0.1:0', '--data-dir', dir, '--upstream', 'http://127.0.0.1:9']);
    cleanup.push(() => serve.child.kill('SIGKILL'));
    await serve.port();
    expect(existsSync(join(dir, 'cargohold.db'))).toBe(true);
    serve.child.kill('SIGTERM');
    expect((await serve.exited).code).toBe(0);
  });
});

describe('usage, help and version', () => {
  it('a bare cargohold prints the usage to stderr and exits 2; --help to stdout, exit 0', async () => {
    const bare = await run([]);
    expect([bare.code, bare.stdout]).toEqual([2, '']);
    expect(bare.stderr).toMatch(/^cargohold: an OCI registry pull-through mirror/);
    const help = await run(['--help']);
    expect([help.code, help.stderr, help.stdout]).toEqual([0, '', bare.stderr]);
  });

  it('each command has its own --help; --version prints the package version', async () => {
    const warm = await run(['warm', '--help']);
    expect([warm.code, warm.stderr]).toEqual([0, '']);
    expect(warm.stdout).toMatch(/^Usage: cargohold warm \[options\] <image>\.\.\./);
    expect(warm.stdout).toContain('--build-arg NAME=VALUE');
    expect(warm.stdout).not.toContain('cargohold serve');
    for (const command of ['serve', 'pin', 'unpin', 'pins', 'ls', 'stats', 'gc', 'verify', 'report']) {
      expect((await run([command, '--help'])).stdout).toMatch(new RegExp(`^Usage: cargohold ${command} `));
    }
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(await run(['--version'])).toEqual({ code: 0, stdout: `cargohold ${version}\n`, stderr: '' });
  });
});

describe('a bad argument: one line and the usage hint, exit 2, before the data dir is looked at', () => {
  it.each([
    [['serve', 'extra'], "serve takes no arguments (got 'extra')"],
    [['warm'], 'name at least one image, or --dockerfile FILE or --from-file FILE'],
    [['pin', '--concurrency', '0', 'node:1'], '--concurrency must be a whole number from 1 to 64'],
    [['unpin'], 'name at least one image to unpin'],
    [['pins', 'extra'], 'pins takes no arguments'],
    [['gc', '--bogus'], "Unknown option '--bogus'"],
    [['verify', 'extra'], 'verify takes no arguments'],
    [['stats', 'extra'], 'stats takes no arguments'],
    [['ls', 'Bad_Name'], 'not a repository name: Bad_Name'],
    [['report', '--by', 'team'], '--by: "team" must be image, principal or upstream'],
    [['report', '--since', 'lately'], '--since: "lately" is neither a duration (30d, 12h, 2w) nor a date (2026-11-01)'],
    [['report', '--json', '--csv'], 'give --json or --csv, not both'],
  ])('%j', async (args, line) => {
    const dir = join(tempDir(), 'typo');
    const result = await run([...args, '--data-dir', dir]);
    expect(result).toEqual({ code: 2, stdout: '', stderr: `cargohold: ${line}\nRun 'cargohold --help' for usage.\n` });
    expect(existsSync(dir)).toBe(false);
  });
});
