import { AsyncLocalStorage } from 'node:async_hooks';
import { UpstreamError } from '../errors/upstream-error.js';

/**
 * The deadline of the upstream call in progress. Every request the call makes (auth
 * retries, redirects) picks its signal up where it is dispatched, without threading a
 * parameter through the auth and redirect code.
 */
const current = new AsyncLocalStorage<AbortSignal>();

/** The abort signal of the call in progress, if it has a deadline. */
export function deadlineSignal(): AbortSignal | undefined {
  return current.getStore();
}

/** The error a call past its deadline fails with: a gateway timeout, never a hang. */
export function deadlineExceeded(what: string, ms: number): UpstreamError {
  return new UpstreamError('UNAVAILABLE', `upstream did not answer the ${what} within its deadline (${ms} ms)`, 'timeout', { status: 504 });
}

/**
 * Runs an upstream call with a total deadline on top of the idle timeouts: an upstream
 * that drips a byte every few seconds dodges those, not this. Past it the call rejects at
 * once with `deadlineExceeded`, and its signal aborts whatever requests and bodies are
 * still open. The timer stops when the call settles (for a blob: once its headers are
 * in; its body has the fill's own deadline).
 */
export async function withDeadline<T>(what: string, ms: number, call: () => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let expire!: (err: UpstreamError) => void;
  const expired = new Promise<never>((_, reject) => (expire = reject));
  const timer = setTimeout(() => {
    const err = deadlineExceeded(what, ms);
    expire(err); // first: the call's own failure, once aborted, must not win the race
    controller.abort(err);
  }, ms);
  timer.unref();
  try {
    return await Promise.race([current.run(controller.signal, call), expired]);
  } finally {
    clearTimeout(timer);
  }
}
