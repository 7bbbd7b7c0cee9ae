/** What an upstream request was for: every HEAD is `head`; `token` is a token realm request. */
export type UpstreamRequestKind = 'manifest' | 'blob' | 'tags' | 'token' | 'head' | 'other';

/** Told of every request sent upstream: its kind, the status (or why none came), the seconds until the headers, and for a network failure its code or message. */
export type UpstreamObserver = (kind: UpstreamRequestKind, status: number | 'timeout' | 'error', seconds: number, reason?: string) => void;

const KINDS = new Set<string>(['manifest', 'blob', 'tags']);

/** The kind of a registry request from its method and what it fetches (`manifest`, `blob`, `tags`). */
export function requestKind(method: string, what: string): UpstreamRequestKind {
  if (method === 'HEAD') return 'head';
  return KINDS.has(what) ? (what as UpstreamRequestKind) : 'other';
}

/** Runs one upstream request, telling the observer how it went. */
export async function observed<T extends { statusCode: number }>(
  observer: UpstreamObserver | undefined,
  kind: UpstreamRequestKind,
  request: () => Promise<T>,
): Promise<T> {
  if (!observer) return request();
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const res = await request();
    observer(kind, res.statusCode, seconds());
    return res;
  } catch (err) {
    const code = (err as { code?: string } | null)?.code;
    observer(kind, /TIMEOUT/.test(code ?? '') ? 'timeout' : 'error', seconds(), code ?? (err as Error | null)?.message);
    throw err;
  }
}
