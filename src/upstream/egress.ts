import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent, type Dispatcher } from 'undici';
import { isInternalAddress } from './address.js';
import { routeFor } from './redirect-policy.js';

/** A host we will not contact on an upstream's say-so: it is, or resolves to, an internal address. */
export class InternalAddressError extends Error {
  readonly code = 'ECARGOHOLD_INTERNAL_ADDRESS';
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`${host} is or resolves to the internal address ${address}`);
    this.name = 'InternalAddressError';
  }
}

export function findInternalAddressError(err: unknown): InternalAddressError | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) if (e instanceof InternalAddressError) return e;
  return undefined;
}

export type Resolver = (
  hostname: string,
  options: { all: true; family: 0 },
  callback: (err: Error | null, addresses: LookupAddress[]) => void,
) => void;

type LookupCallback = (err: Error | null, address: string | LookupAddress[], family?: number) => void;
type LookupFn = (hostname: string, options: { family?: number | string; all?: boolean }, callback: LookupCallback) => void;

const defaultResolver: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback);

/**
 * A `lookup` for net.connect: resolves every address of the host, refuses the host if any
 * of them is internal, and hands the socket only addresses checked here. The check and
 * the connect use the same answer, so DNS rebinding between them cannot slip through.
 */
export function guardedLookup(resolve: Resolver = defaultResolver): LookupFn {
  return (hostname, options, callback) => {
    resolve(hostname, { all: true, family: 0 }, (err, addresses) => {
      if (err) return callback(err, []);
      const internal = addresses.find((a) => isInternalAddress(a.address));
      if (internal) return callback(new InternalAddressError(hostname, internal.address), []);
      const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family ?? 0);
      const usable = family === 4 || family === 6 ? addresses.filter((a) => a.family === family) : addresses;
      const first = usable[0];
      if (!first) return callback(Object.assign(new Error(`no usable address for ${hostname}`), { code: 'ENOTFOUND' }), []);
      if (options.all) return callback(null, usable);
      callback(null, first.address, first.family);
    });
  };
}

export interface EgressOptions {
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  resolve?: Resolver;
}

/**
 * The two connection pools of an upstream: `trusted` for the upstream itself and the
 * origins its configuration trusts, `guarded` for any other host an upstream names
 * (a CDN redirect, Docker Hub's default token realm), which connects only to public addresses.
 */
export class Egress {
  readonly trusted: Agent;
  readonly guarded: Agent;

  constructor(opts: EgressOptions) {
    const common = { headersTimeout: opts.headersTimeoutMs, bodyTimeout: opts.bodyTimeoutMs, keepAliveTimeout: 30_000, connections: 64 };
    this.trusted = new Agent({ ...common, connect: { timeout: opts.connectTimeoutMs } });
    this.guarded = new Agent({ ...common, connect: { timeout: opts.connectTimeoutMs, lookup: guardedLookup(opts.resolve) } });
  }

  /** The pool for a token realm (its scheme is checked by the caller); throws InternalAddressError for an untrusted internal IP literal. */
  realmDispatcher(upstream: URL, realm: URL, trustedOrigins: ReadonlySet<string>): Dispatcher {
    const route = routeFor(upstream, realm, trustedOrigins);
    if ('refused' in route) throw new InternalAddressError(realm.hostname, route.address ?? realm.hostname);
    return this[route.via];
  }

  /** Fails every request in progress at once (a shutdown past its deadline). */
  destroy(reason: Error): void {
    this.trusted.destroy(reason).catch(() => undefined);
    this.guarded.destroy(reason).catch(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all([this.trusted.close(), this.guarded.close()]);
  }
}
