import type { UpstreamRequestKind } from '../upstream/observe.js';

export interface UpstreamHealthState {
  upstream: string;
  lastSuccessAt: number | undefined;
  lastErrorAt: number | undefined;
  /** The last failure: an HTTP status, `timeout` or the network error. */
  lastError: string | undefined;
  requests: number;
  errors: number;
}

/**
 * How each upstream has been answering, from every request sent to it: the dashboard's
 * upstream health. A 5xx, a 429, a timeout or a network error is a failure; any other
 * answer (a 404 too) means the upstream is there.
 */
export class UpstreamHealth {
  readonly #states = new Map<string, UpstreamHealthState>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  observe(upstream: string, _kind: UpstreamRequestKind, status: number | 'timeout' | 'error', reason?: string): void {
    const state = this.#state(upstream);
    state.requests++;
    if (typeof status === 'number' && status < 500 && status !== 429) {
      state.lastSuccessAt = this.#now();
      return;
    }
    state.errors++;
    state.lastErrorAt = this.#now();
    state.lastError = typeof status === 'number' ? `HTTP ${status}` : reason ? `${status}: ${reason}` : status;
  }

  /** Every upstream, named ones (configured) first even if never contacted. */
  snapshot(configured: readonly string[]): UpstreamHealthState[] {
    for (const name of configured) this.#state(name);
    return [...this.#states.values()].map((s) => ({ ...s }));
  }

  #state(upstream: string): UpstreamHealthState {
    let state = this.#states.get(upstream);
    if (!state) {
      state = { upstream, lastSuccessAt: undefined, lastErrorAt: undefined, lastError: undefined, requests: 0, errors: 0 };
      this.#states.set(upstream, state);
    }
    return state;
  }
}
