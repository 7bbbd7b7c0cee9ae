import { isIP } from 'node:net';
import { isInternalAddress } from './address.js';

/**
 * Where a request the upstream pointed us at (a redirect, a token realm) may go:
 * `trusted` (the upstream's own origin or one its configuration lists) connects as is;
 * `guarded` connects only to public addresses, checked after DNS (egress.ts); anything
 * else is refused before any connection is made.
 */
export type Route = { via: 'trusted' | 'guarded' } | { refused: string; address?: string };

export function routeFor(upstream: URL, target: URL, trustedOrigins: ReadonlySet<string>): Route {
  if (target.protocol !== 'https:' && target.protocol !== 'http:') return { refused: 'unsupported scheme' };
  if (upstream.protocol === 'https:' && target.protocol === 'http:') return { refused: 'an https upstream may not send us to plain http' };
  if (trustedOrigins.has(target.origin)) return { via: 'trusted' };
  // net.connect skips the lookup for an IP literal, so a literal is checked here.
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 && isInternalAddress(host)) return { refused: 'not a public address', address: host };
  return { via: 'guarded' };
}
