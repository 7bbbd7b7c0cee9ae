import type { Context } from 'hono';
import { ANONYMOUS, AUTHENTICATED, type Principal } from '../auth/types.js';
import { accessTarget, type ClientAccess } from '../http/authorize.js';
import type { Role } from './layout.js';

/** Who is looking at the dashboard, what they may do, and which repositories they may see. */
export interface Viewer {
  role: Role;
  /** '' for anonymous. */
  principal: string;
  canRead(repository: string): boolean;
}

/** Why a request gets no dashboard: 401 with a challenge, or 429 after too many failed logins. */
export interface Refusal {
  status: 401 | 403 | 429;
  message: string;
  headers: Record<string, string>;
}

/** The dashboard's context: the viewer, once the access check has let the request in. */
export interface UiEnv {
  Variables: { viewer: Viewer };
}

export type ViewerOf = (c: Context<UiEnv>) => Promise<Viewer | Refusal>;

export interface DashboardAccessOptions {
  /** Client auth (undefined: off, everyone is anonymous). */
  access: ClientAccess | undefined;
  /** What a client without credentials may do: none (log in first), view, admin. */
  anonymous: 'none' | Role;
  /** Principals with the admin role (`authenticated`: every logged-in one). */
  admins: readonly string[];
  /** Principals with the view role (`authenticated`: every logged-in one). */
  viewers: readonly string[];
}

const everything = () => true;

/**
 * The dashboard's access check, on the client auth the registry uses: the same logins
 * (Basic from htpasswd, Bearer tokens), the same failed-login limit, and a viewer sees only
 * the repositories its read rules allow (private upstreams never to anonymous). Admins see all.
 */
export function dashboardViewers(options: DashboardAccessOptions): ViewerOf {
  const { access } = options;
  const realm = access?.auth.realm ?? 'cargohold';
  const challenge = (message: string): Refusal => ({
    status: 401,
    message,
    headers: { 'WWW-Authenticate': `Basic realm="${realm.replace(/["\\]/g, '\\$&')}"` },
  });
  const roleOf = (p: Principal): Role | undefined => {
    const named = (list: readonly string[]) => list.includes(p.name) || (p.authenticated && list.includes(AUTHENTICATED));
    if (!p.authenticated) return options.anonymous === 'none' ? undefined : options.anonymous;
    if (named(options.admins)) return 'admin';
    if (named(options.viewers)) return 'view';
    return undefined;
  };
  return async (c) => {
    let principal: Principal = { name: ANONYMOUS, authenticated: false };
    if (access) {
      const address = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress ?? 'unknown';
      const result = await access.auth.authenticate(c.req.header('authorization'), address);
      if (!result.ok && result.reason === 'throttled') {
        return { status: 429, message: 'too many failed logins from this address', headers: { 'Retry-After': String(result.retryAfterSeconds) } };
      }
      if (!result.ok) return challenge('invalid username, password or token');
      principal = result.principal;
    }
    const role = roleOf(principal);
    if (!role)
      return principal.authenticated
        ? { status: 403, message: `${principal.name} has neither the view nor the admin role`, headers: {} }
        : challenge('the dashboard needs a login');
    const canRead =
      !access || role === 'admin' ? everything : (repository: string) => access.auth.canRead(principal, accessTarget(access, repository));
    return { role, principal: principal.authenticated ? principal.name : '', canRead };
  };
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
