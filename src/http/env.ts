import type { HttpBindings } from '@hono/node-server';
import type { CacheStatus } from '../core/types.js';
import type { ResolvedName } from '../core/namespace.js';
import type { Failure } from './failure.js';

/** Typed context for every route: node bindings (for raw streaming) and our variables. */
export interface AppEnv {
  Bindings: Partial<HttpBindings>;
  Variables: {
    requestId: string;
    cache: CacheStatus | undefined;
    /** The repository a manifest or blob response served (traffic history). */
    repository: string | undefined;
    /** Body bytes of a pumped blob response the socket took (the access log says how far a broken one got). */
    sent: { bytes: number } | undefined;
    /** The response joined a fetch or fill another request had started (metrics). */
    coalesced: boolean | undefined;
    /** Who made the request (`anonymous` without credentials), once authenticated; for the access log. */
    principal: string | undefined;
    /** The repository the request named and its upstream (set once resolved; client auth reads `private`). */
    namespace: ResolvedName | undefined;
    /** Why the request failed, for the access log (set by the error handler). */
    failure: Failure | undefined;
  };
}

export const API_VERSION = 'registry/2.0';
