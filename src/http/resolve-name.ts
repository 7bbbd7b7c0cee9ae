import type { Context } from 'hono';
import type { Namespaces, ResolvedName } from '../core/namespace.js';
import type { AppEnv } from './env.js';

/** The repository a request names (`?ns=`, a host path prefix, else the default upstream), kept on the context. */
export function resolveName(c: Context<AppEnv>, namespaces: Namespaces, name: string): ResolvedName {
  const resolved = namespaces.resolve(name, c.req.query('ns'));
  c.set('namespace', resolved);
  return resolved;
}
