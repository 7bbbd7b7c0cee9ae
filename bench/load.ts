import { rmSync } from 'node:fs';
import { run } from '../test/support/peers.js';

/** Load generators: wrk for steady load, curl for N concurrent whole downloads, skopeo for pulls. */
export interface WrkResult {
  requestsPerSec: number;
  /** Requests completed in the run. */
  requests: number;
  /** Bytes per second read by wrk (headers and bodies). */
  bytesPerSec: number;
  /** Non-2xx/3xx responses plus socket errors (timeouts excluded: a 200 MiB body outlasts wrk's clock). */
  failures: number;
}

export interface WrkOptions {
  threads: number;
  connections: number;
  seconds: number;
  headers?: string[];
  /** A lua script file (e.g. wrk.method = "HEAD"). */
  script?: string;
}

const UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

export function parseWrk(output: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const requests = /(\d+) requests in /.exec(output);
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMGT]?B)/.exec(output);
  if (!rps || !transfer || !requests) throw new Error(`cannot parse wrk output:\n${output}`);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+)/.exec(output);
  const socketErrors = socket ? Number(socket[1]) + Number(socket[2]) + Number(socket[3]) : 0;
  return {
    requestsPerSec: Number(rps[1]),
    requests: Number(requests[1]),
    bytesPerSec: Number(transfer[1]) * (UNITS[transfer[2] as string] as number),
    failures: non2xx + socketErrors,
  };
}

export async function wrk(url: string, opts: WrkOptions): Promise<WrkResult> {
  const args = [`-t${opts.threads}`, `-c${opts.connections}`, `-d${opts.seconds}s`, '--timeout', '120s'];
  for (const header of opts.headers ?? []) args.push('-H', header);
  if (opts.script) args.push('-s', opts.script);
  const { stdout } = await run('wrk', [...args, url], { timeoutMs: (opts.seconds + 60) * 1000 });
  return parseWrk(stdout);
}

/**
 * N curl processes downloading the same URL at once, bodies discarded. Returns the
 * wall time until the last one finished; throws unless every one got a 200 and size bytes.
 */
export async function concurrentDownloads(url: string, clients: number, size: number): Promise<number> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: clients }, () =>
      run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', '--max-time', '300', url], { timeoutMs: 330_000 }),
    ),
  );
  const wallMs = performance.now() - started;
  for (const { stdout } of results) {
    if (stdout.trim() !== `200 ${size}`) throw new Error(`download of ${url} ended with "${stdout.trim()}", expected "200 ${size}"`);
  }
  return wallMs;
}

/** curl's own clock for one whole download (seconds): time to the first body byte and in all. */
export interface CurlTimes {
  ttfb: number;
  total: number;
}

/**
 * One `curl -o /dev/null` GET, timed by curl itself (time_starttransfer, time_total: from
 * before the connect to the last byte, without curl's process start). Throws unless it got
 * a 200 and size bytes.
 */
export async function timedDownload(url: string, size: number): Promise<CurlTimes> {
  const { stdout } = await run(
    'curl',
    ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_starttransfer} %{time_total}', '--max-time', '300', url],
    {
      timeoutMs: 330_000,
    },
  );
  const [status, bytes, ttfb, total] = stdout.trim().split(' ');
  if (`${status} ${bytes}` !== `200 ${size}`) throw new Error(`download of ${url} ended with "${stdout.trim()}", expected "200 ${size}"`);
  return { ttfb: Number(ttfb), total: Number(total) };
}

/**
 * HEAD load with ApacheBench (`ab -i -k`, HTTP/1.0 keep-alive): wrk 4.1 waits for a
 * body after a HEAD response with Content-Length, so it cannot do HEAD.
 */
export async function abHead(url: string, opts: { connections: number; seconds: number; headers: string[] }): Promise<WrkResult> {
  const args = ['-i', '-k', '-q', '-c', String(opts.connections), '-t', String(opts.seconds), '-n', '100000000'];
  for (const header of opts.headers) args.push('-H', header);
  const { stdout } = await run('ab', [...args, url], { timeoutMs: (opts.seconds + 60) * 1000 });
  const rps = /Requests per second:\s+([\d.]+)/.exec(stdout);
  if (!rps) throw new Error(`cannot parse ab output:\n${stdout}`);
  const complete = Number(/Complete requests:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  const failed = Number(/Failed requests:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  const non2xx = Number(/Non-2xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
  return { requestsPerSec: Number(rps[1]), requests: complete, bytesPerSec: 0, failures: failed + non2xx };
}

/** Wall time of `skopeo copy docker://HOST/REF dir:DEST` over plain HTTP; DEST is removed afterwards. */
export async function skopeoPull(host: string, reference: string, dest: string): Promise<number> {
  const started = performance.now();
  try {
    await run('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', `docker://${host}/${reference}`, `dir:${dest}`], {
      timeoutMs: 300_000,
    });
    return performance.now() - started;
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
}
