import type { Context } from 'hono';
import type { ClientAuth } from '../auth/client-auth.js';
import { ANONYMOUS_PRINCIPAL, type AccessTarget, type Principal } from '../auth/types.js';
import { splitRepository, type Namespaces } from '../core/namespace.js';
import { RegistryError } from '../errors/registry-error.js';
import type { AppEnv } from './env.js';
import type { V2Route } from './v2-path.js';

/** Client auth and the upstreams repositories come from. */
export interface ClientAccess {
  auth: ClientAuth;
  namespaces: Namespaces;
}

/** What a stored (qualified) repository reads: `docker.io/library/node` → docker.io's `library/node`, private as configured. */
export function accessTarget(access: ClientAccess, repository: string): AccessTarget {
  const { host, remote } = splitRepository(repository);
  return { upstream: host, repository: remote, private: access.namespaces.isPrivate(host) };
}

/**
 * Who is asking, checked on every /v2/ request before any cache is looked at. No
 * credentials: anonymous. Wrong ones: 401 UNAUTHORIZED with the Basic challenge (as
 * distribution's htpasswd mode answers); too many wrong ones from this address: 429.
 */
export async function authenticate(c: Context<AppEnv>, access: ClientAccess | undefined): Promise<Principal> {
  // Without client auth everyone is anonymous: the access log names no principal then.
  if (!access) return ANONYMOUS_PRINCIPAL;
  const address = c.env?.incoming?.socket.remoteAddress ?? 'unknown';
  const result = await access.auth.authenticate(c.req.header('authorization'), address);
  if (result.ok) {
    c.set('principal', result.principal.name);
    return result.principal;
  }
  if (result.reason === 'throttled') {
    throw new RegistryError('TOOMANYREQUESTS', 'too many failed logins from this address', {
      headers: { 'Retry-After': String(result.retryAfterSeconds) },
    });
  }
  throw unauthorized(access.auth.realm, 'invalid username, password or token', null);
}

/**
 * May this principal make this request? `/v2/` needs a login (so docker login checks
 * the password, and docker pull learns to send it); a repository needs a rule that lets
 * the principal read it: anonymous clients are asked to log in (401), others denied
 * (403). The catalog is filtered instead (catalogFilter).
 */
export function authorize(c: Context<AppEnv>, access: ClientAccess | undefined, route: V2Route, principal: Principal): void {
  if (!access || route.area === 'catalog') return;
  if (route.area === 'base') {
    if (!principal.authenticated) throw unauthorized(access.auth.realm, 'authentication required', null);
    return;
  }
  const resolved = access.namespaces.resolve(route.name, c.req.query('ns'));
  const target = { upstream: resolved.host, repository: resolved.remote, private: resolved.private };
  if (access.auth.canRead(principal, target)) return;
  // The access record distribution puts in its detail.
  const detail = [{ Type: 'repository', Class: '', Name: target.repository, Action: 'pull' }];
  if (!principal.authenticated) throw unauthorized(access.auth.realm, 'authentication required', detail);
  throw new RegistryError('DENIED', 'requested access to the resource is denied', { detail });
}

/** The repositories of the catalog this principal may read; undefined: all of them. */
export function catalogFilter(access: ClientAccess | undefined, principal: Principal): ((repository: string) => boolean) | undefined {
  if (!access) return undefined;
  return (repository) => access.auth.canRead(principal, accessTarget(access, repository));
}

function unauthorized(realm: string, message: string, detail: unknown): RegistryError {
  return new RegistryError('UNAUTHORIZED', message, { detail, headers: { 'WWW-Authenticate': `Basic realm=${quote(realm)}` } });
}

/** An RFC 9110 quoted-string. */
function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}
