import type { HttpBindings } from '@hono/node-server';
import type { CacheStatus } from '../core/types.js';

/** Typed context for every route: node bindings (for raw streaming) and our variables. */
export interface AppEnv {
  Bindings: Partial<HttpBindings>;
  Variables: {
    requestId: string;
    cache: CacheStatus | undefined;
  };
}

export const API_VERSION = 'registry/2.0';
