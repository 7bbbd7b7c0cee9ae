import type { Context } from 'hono';
import type { Role } from './layout.js';

/** Who is looking at the dashboard, and what they may do; undefined: nobody may (answer 401). */
export interface Viewer {
  role: Role;
  principal: string;
}

/** The dashboard's context: the viewer, once the access check has let the request in. */
export interface UiEnv {
  Variables: { viewer: Viewer };
}

export type ViewerOf = (c: Context<UiEnv>) => Viewer | undefined;

/** With client auth off, everyone is anonymous with the configured role ('none' hides the dashboard). */
export function anonymousViewer(role: 'none' | 'view' | 'admin'): ViewerOf {
  return () => (role === 'none' ? undefined : { role, principal: '' });
}

/**
 * A request that changes state must come from the dashboard's own page: a JSON body (a
 * cross-site form cannot send one without a CORS preflight, which we never allow) and, when
 * the browser says where it came from, the same origin. Basic credentials the browser
 * remembers are sent cross-site too; this is what keeps them from being used that way.
 */
export function sameOriginJson(c: Context): boolean {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\s*(;|$)/i.test(type)) return false;
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') return false;
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === c.req.header('host');
  } catch {
    return false;
  }
}
