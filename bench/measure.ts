import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';

/** Measurements read from outside the servers: /proc and the upstream's access log. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Peak resident set size of a live process (VmHWM), in MB (10^6 bytes). */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmHWM for pid ${pid}`);
  return (Number(match[1]) * 1024) / 1e6;
}

/** A position in a log file: what is written after it belongs to the scenario that took it. */
export function logMark(file: string): number {
  return statSync(file).size;
}

function readFrom(file: string, offset: number): string {
  const size = statSync(file).size;
  if (size <= offset) return '';
  const buffer = Buffer.alloc(size - offset);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, buffer.length, offset);
  } finally {
    closeSync(fd);
  }
  return buffer.toString('utf8');
}

/**
 * Blob GETs the upstream distribution answered since the mark, from its access log
 * (combined format: `"GET /v2/<name>/blobs/<digest> HTTP/1.1" 200 <bytes>`). A line is
 * written when the response ends, with the bytes really sent.
 */
export function upstreamBlobGets(logFile: string, mark: number): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (const m of readFrom(logFile, mark).matchAll(/"GET \/v2\/\S+\/blobs\/sha256:[0-9a-f]{64} HTTP\/[\d.]+" \d{3} (\d+|-)/g)) {
    count++;
    bytes += m[1] === '-' ? 0 : Number(m[1]);
  }
  return { count, bytes };
}

/** Manifest requests (HEAD or GET) the upstream answered since the mark. */
export function upstreamManifestRequests(logFile: string, mark: number): number {
  return [...readFrom(logFile, mark).matchAll(/"(?:GET|HEAD) \/v2\/\S+\/manifests\/\S+ HTTP\/[\d.]+" \d{3}/g)].length;
}

/**
 * Waits until a log file stops growing for quietMs (bounded by maxMs): distribution's
 * proxy keeps fetching in the background after its client has its bytes.
 */
export async function waitLogQuiet(file: string, quietMs = 1000, maxMs = 60_000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let size = statSync(file).size;
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = statSync(file).size;
    if (now !== size) {
      size = now;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= quietMs) {
      return;
    }
  }
}
