import { createHash } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  json<T = any>(): T;
  sha256(): string;
}

const agent = new Agent({ connections: 64 });

/** A raw request: the path is sent exactly as given (no URL normalisation, so `..` reaches the server). */
export async function http(
  base: string,
  path: string,
  options: { method?: Dispatcher.HttpMethod; headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  const res = await agent.request({ origin: base, path, method: options.method ?? 'GET', headers: options.headers ?? {}, body: options.body });
  const body = Buffer.from(await res.body.arrayBuffer());
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(res.headers)) headers[key] = Array.isArray(value) ? value.join(', ') : (value ?? '');
  return {
    status: res.statusCode,
    headers,
    body,
    json: () => JSON.parse(body.toString()),
    sha256: () => `sha256:${createHash('sha256').update(body).digest('hex')}`,
  };
}

/** Expects an OCI error body with this code and status. */
export function errorCode(reply: Reply): string | undefined {
  try {
    return reply.json<{ errors: Array<{ code: string }> }>().errors[0]?.code;
  } catch {
    return undefined;
  }
}

/** A GET whose body is expected to break off: its status, the bytes that arrived, and how it ended. */
export async function brokenTransfer(base: string, path: string): Promise<{ status: number; received: number; ended: string }> {
  const res = await agent.request({ origin: base, path, method: 'GET' });
  let received = 0;
  try {
    for await (const chunk of res.body) received += (chunk as Buffer).length;
  } catch (err) {
    return { status: res.statusCode, received, ended: (err as { code?: string }).code ?? (err as Error).message };
  }
  return { status: res.statusCode, received, ended: 'complete' };
}
