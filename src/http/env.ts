import type { HttpBindings } from '@hono/node-server';
import type { CacheStatus } from '../core/types.js';

/** Typed context for every route: node bindings (for raw streaming) and our variables. */
export interface AppEnv {
  Bindings: Partial<HttpBindings>;
  Variables: {
    requestId: string;
    cache: CacheStatus | undefined;
    /** Body bytes of a pumped blob response the socket took (the access log says how far a broken one got). */
    sent: { bytes: number } | undefined;
  };
}

export const API_VERSION = 'registry/2.0';
