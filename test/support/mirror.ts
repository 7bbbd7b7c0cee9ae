import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startServer, type RunningServer } from '../../src/main.js';
import { createLogger } from '../../src/util/logger.js';

/** Log lines written by the server, parsed, for assertions on what it said. */
export class LogCapture {
  readonly lines: Array<Record<string, unknown>> = [];
  write(line: string): void {
    this.lines.push(JSON.parse(line) as Record<string, unknown>);
  }
  find(predicate: (line: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(predicate);
  }
  requests(): Array<Record<string, unknown>> {
    return this.lines.filter((l) => l.msg === 'request');
  }
}

export interface Mirror extends RunningServer {
  dataDir: string;
  logs: LogCapture;
  /** Closes the server and removes its data directory. */
  destroy(): Promise<void>;
}

/** Short upstream timeouts for the tests, and tag TTL 0 unless a test sets one: every tag request revalidates, so tests see the upstream's answer. */
export const TEST_UPSTREAM = { connectTimeoutMs: 1000, headersTimeoutMs: 2000, bodyTimeoutMs: 5000, tagTtlSeconds: 0, tagTtlRules: [] };

/** Starts cargohold in this process on an ephemeral loopback port with its own temp data dir. */
export async function startMirror(upstreamUrl: string, overrides: ConfigInput = {}, dataDir?: string, now?: () => number): Promise<Mirror> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'cargohold-test-'));
  const config = loadConfig({
    flags: {
      ...overrides,
      listen: '127.0.0.1:0',
      dataDir: dir,
      logLevel: 'debug',
      upstream: {
        ...TEST_UPSTREAM,
        ...overrides.upstream,
        url: upstreamUrl,
      },
    },
  });
  const logs = new LogCapture();
  const server = await startServer(config, createLogger(config.logLevel, logs), now ? { now } : {});
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await server.close();
  };
  return {
    ...server,
    close,
    dataDir: dir,
    logs,
    destroy: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Where the filesystem backend keeps a blob of this data dir. */
export function blobPath(dataDir: string, digest: string): string {
  const hex = digest.slice(7);
  return join(dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}
