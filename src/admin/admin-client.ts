import { request, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import type { RateLimitSnapshot } from '../upstream/rate-limit.js';
import type { GcResult } from '../maintenance/run-gc.js';
import type { StoreStats } from '../maintenance/stats.js';
import type { Report, ReportBy } from '../report/report.js';
import type { VerifyProgress, VerifyReport } from '../maintenance/verify.js';
import type { ImageEntry, Pin } from '../ports/metadata-repo.js';
import type { WarmJobEvent, WarmRequest } from '../warm/warm-job.js';

/** What holds the data dir lease: the server, or an admin command working directly. */
export type HolderRole = 'serve' | 'command';

/** The admin API answered with an error (its message is for the user). */
export class AdminError extends Error {
  override name = 'AdminError';
}

/** What POST /v1/verify streams. */
export type VerifyEvent = ({ kind: 'progress' } & VerifyProgress) | { kind: 'report'; report: VerifyReport } | { kind: 'error'; message: string };

/** Talks to a running server's admin API over its unix socket. */
export class AdminClient {
  readonly #socketPath: string;

  constructor(socketPath: string) {
    this.#socketPath = socketPath;
  }

  /**
   * Is the lease holder behind this socket alive? `gone` when nothing listens there (the
   * socket file is missing or refuses: on this host, its process is dead), `unresponsive`
   * when it cannot tell (a timeout, or a socket of another host on a shared volume).
   */
  async probe(timeoutMs = 2000): Promise<{ state: 'alive'; role: HolderRole } | { state: 'gone' | 'unresponsive' }> {
    try {
      const status = (await this.#json('GET', '/v1/status', undefined, timeoutMs)) as { role?: HolderRole };
      return { state: 'alive', role: status.role === 'serve' ? 'serve' : 'command' };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { state: code === 'ECONNREFUSED' || code === 'ENOENT' ? 'gone' : 'unresponsive' };
    }
  }

  /** Runs a warm job on the server, calling onEvent for each progress event as it streams. */
  async warm(job: WarmRequest, onEvent: (event: WarmJobEvent) => void): Promise<void> {
    const res = await this.#send('POST', '/v1/warm', job);
    if (res.statusCode !== 200) throw new AdminError(await errorOf(res));
    let ended = false;
    for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
      if (!line) continue;
      const event = JSON.parse(line) as WarmJobEvent;
      if (event.kind === 'summary') ended = true;
      onEvent(event);
    }
    if (!ended) throw new AdminError('the server stopped before the warm job ended');
  }

  async gc(dryRun: boolean): Promise<GcResult> {
    return (await this.#json('POST', '/v1/gc', { dryRun })) as GcResult;
  }

  /** Verifies the store on the server, calling onProgress as it goes; the report at the end. */
  async verify(repair: boolean, onProgress: (p: VerifyProgress) => void): Promise<VerifyReport> {
    const res = await this.#send('POST', '/v1/verify', { repair });
    if (res.statusCode !== 200) throw new AdminError(await errorOf(res));
    for await (const line of createInterface({ input: res, crlfDelay: Infinity })) {
      if (!line) continue;
      const event = JSON.parse(line) as VerifyEvent;
      if (event.kind === 'progress') onProgress(event);
      else if (event.kind === 'report') return event.report;
      else throw new AdminError(event.message);
    }
    throw new AdminError('the server stopped before verify ended');
  }

  async stats(): Promise<StoreStats> {
    return (await this.#json('GET', '/v1/stats')) as StoreStats;
  }

  async report(since: number, by: ReportBy): Promise<Report> {
    return (await this.#json('GET', `/v1/report?${new URLSearchParams({ since: String(since), by }).toString()}`)) as Report;
  }

  async images(repository?: string): Promise<ImageEntry[]> {
    const query = repository === undefined ? '' : `?repository=${encodeURIComponent(repository)}`;
    return (await this.#json('GET', `/v1/images${query}`)) as ImageEntry[];
  }

  async pins(): Promise<Pin[]> {
    return (await this.#json('GET', '/v1/pins')) as Pin[];
  }

  async unpin(image: string): Promise<{ image: string; removed: boolean }> {
    return (await this.#json('DELETE', '/v1/pins', { image })) as { image: string; removed: boolean };
  }

  /** An upstream's pull quota (default docker.io) as the server last saw it, and any block on manifest GETs. */
  async rateLimit(upstream?: string): Promise<RateLimitSnapshot> {
    return (await this.#json('GET', `/v1/ratelimit${upstreamQuery(upstream)}`)) as RateLimitSnapshot;
  }

  /** Lifts a block on manifest GETs at once; cleared is false when there was none. */
  async clearRateLimit(upstream?: string): Promise<{ cleared: boolean; state: RateLimitSnapshot }> {
    return (await this.#json('DELETE', `/v1/ratelimit${upstreamQuery(upstream)}`)) as { cleared: boolean; state: RateLimitSnapshot };
  }

  async #json(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<unknown> {
    const res = await this.#send(method, path, body, timeoutMs);
    if (res.statusCode !== 200) throw new AdminError(await errorOf(res));
    return JSON.parse(await text(res)) as unknown;
  }

  #send(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request({ socketPath: this.#socketPath, path, method, headers: payload ? { 'content-type': 'application/json' } : {} }, resolve);
      req.on('error', reject);
      if (timeoutMs !== undefined)
        req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('admin API timed out'), { code: 'ETIMEDOUT' })));
      req.end(payload);
    });
  }
}

async function text(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function errorOf(res: IncomingMessage): Promise<string> {
  const body = await text(res);
  try {
    return (JSON.parse(body) as { error?: string }).error ?? body;
  } catch {
    return `admin API answered ${res.statusCode}`;
  }
}

function upstreamQuery(upstream: string | undefined): string {
  return upstream === undefined ? '' : `?upstream=${encodeURIComponent(upstream)}`;
}
