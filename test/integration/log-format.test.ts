import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startCli, type CliProcess } from '../support/cli-process.js';
import { http } from '../support/http.js';
import { waitFor } from '../support/wait.js';

let cli: CliProcess | undefined;
let dir: string | undefined;

afterEach(() => {
  if (cli && cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
  cli = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('serve --log-format', () => {
  it('pretty: readable lines (level by name, key=value), no JSON, the access log included', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cargohold-cli-'));
    cli = startCli(['serve', '--log-format', 'pretty', '--listen', '127.0.0.1:0', '--data-dir', dir, '--upstream', 'http://127.0.0.1:9']);
    const running = cli;
    let port = 0;
    await waitFor(
      () => {
        port = Number(/ INFO {2}cargohold listening listen=127\.0\.0\.1:(\d+) /.exec(running.output())?.[1] ?? 0);
        return port > 0 || running.child.exitCode !== null;
      },
      20_000,
      'cargohold to listen',
    );
    expect(port).toBeGreaterThan(0);
    expect((await http(`http://127.0.0.1:${port}`, '/v2/', { headers: { 'user-agent': 'pretty-test' } })).status).toBe(200);
    await waitFor(() =>
      / INFO {2}request reqId=\S+ method=GET path=\/v2\/ status=200 bytes=2 ms=\S+ remote=127\.0\.0\.1 ua=pretty-test\n/.test(running.output()),
    );
    running.child.kill('SIGTERM');
    expect((await running.exited).code).toBe(0);
    const lines = running.output().trim().split('\n');
    expect(lines.at(-1)).toMatch(/^\S+Z INFO {2}stopped$/);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\S+Z (INFO |WARN |DEBUG|ERROR) /);
  });
});
