import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { isInternalAddress } from '../../src/upstream/address.js';
import { guardedLookup, InternalAddressError, type Resolver } from '../../src/upstream/egress.js';
import { routeFor } from '../../src/upstream/redirect-policy.js';

/** Each refused IPv4 range: its first and last address, and the public neighbours just outside it. */
const V4_RANGES: Array<{ range: string; first: string; last: string; below?: string; above?: string }> = [
  { range: '0.0.0.0/8', first: '0.0.0.0', last: '0.255.255.255', above: '1.0.0.0' },
  { range: '10.0.0.0/8', first: '10.0.0.0', last: '10.255.255.255', below: '9.255.255.255', above: '11.0.0.0' },
  { range: '100.64.0.0/10', first: '100.64.0.0', last: '100.127.255.255', below: '100.63.255.255', above: '100.128.0.0' },
  { range: '127.0.0.0/8', first: '127.0.0.0', last: '127.255.255.255', below: '126.255.255.255', above: '128.0.0.0' },
  { range: '169.254.0.0/16', first: '169.254.0.0', last: '169.254.255.255', below: '169.253.255.255', above: '169.255.0.0' },
  { range: '172.16.0.0/12', first: '172.16.0.0', last: '172.31.255.255', below: '172.15.255.255', above: '172.32.0.0' },
  { range: '192.168.0.0/16', first: '192.168.0.0', last: '192.168.255.255', below: '192.167.255.255', above: '192.169.0.0' },
  { range: '224.0.0.0/4 (multicast)', first: '224.0.0.0', last: '239.255.255.255', below: '223.255.255.255' },
  { range: '240.0.0.0/4 (reserved, broadcast)', first: '240.0.0.0', last: '255.255.255.255' },
];

/** The IPv6 forms that carry an IPv4 address, each written as a function of it. */
const V4_IN_V6: Array<[string, (v4: string) => string]> = [
  ['IPv4-mapped dotted', (v4) => `::ffff:${v4}`],
  ['IPv4-mapped hex', (v4) => `::ffff:${hexPair(v4)}`],
  ['IPv4-mapped, expanded and upper case', (v4) => `0:0:0:0:0:FFFF:${hexPair(v4).toUpperCase()}`],
  ['IPv4-compatible', (v4) => `::${v4}`],
  ['SIIT ::ffff:0:a.b.c.d', (v4) => `::ffff:0:${v4}`],
  ['NAT64 64:ff9b::', (v4) => `64:ff9b::${v4}`],
];

function hexPair(v4: string): string {
  const [a = 0, b = 0, c = 0, d = 0] = v4.split('.').map(Number);
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

describe('internal address classifier', () => {
  for (const r of V4_RANGES) {
    it(`refuses ${r.range} from its first to its last address, not its neighbours`, () => {
      expect(isInternalAddress(r.first)).toBe(true);
      expect(isInternalAddress(r.last)).toBe(true);
      if (r.below) expect(isInternalAddress(r.below)).toBe(false);
      if (r.above) expect(isInternalAddress(r.above)).toBe(false);
    });
  }

  it('refuses the cloud metadata address and accepts public IPv4', () => {
    expect(isInternalAddress('169.254.169.254')).toBe(true);
    for (const ip of ['8.8.8.8', '1.1.1.1', '52.1.2.3', '104.16.0.1', '223.255.255.254']) expect(isInternalAddress(ip)).toBe(false);
  });

  for (const [form, write] of V4_IN_V6) {
    it(`looks through the ${form} IPv6 form to the IPv4 address`, () => {
      for (const r of V4_RANGES) {
        expect(isInternalAddress(write(r.first)), write(r.first)).toBe(true);
        expect(isInternalAddress(write(r.last)), write(r.last)).toBe(true);
        if (r.above) expect(isInternalAddress(write(r.above)), write(r.above)).toBe(false);
      }
      expect(isInternalAddress(write('169.254.169.254'))).toBe(true);
      expect(isInternalAddress(write('8.8.8.8'))).toBe(false);
    });
  }

  it('refuses IPv6 loopback, unspecified, unique-local, link-local, site-local and multicast', () => {
    for (const ip of ['::1', '::', '0:0:0:0:0:0:0:1', '0::0', '[::1]']) expect(isInternalAddress(ip), ip).toBe(true);
    // fc00::/7
    for (const ip of ['fc00::', 'fc00::1', 'fd00::1', 'fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) expect(isInternalAddress(ip), ip).toBe(true);
    expect(isInternalAddress('fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(false);
    expect(isInternalAddress('fe00::')).toBe(false);
    // fe80::/10, with and without a zone id
    for (const ip of ['fe80::', 'fe80::1', 'fe80::1%eth0', 'febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff']) expect(isInternalAddress(ip), ip).toBe(true);
    expect(isInternalAddress('fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(false);
    // fec0::/10 and ff00::/8
    for (const ip of ['fec0::1', 'feff::1', 'ff02::1', 'ff00::']) expect(isInternalAddress(ip), ip).toBe(true);
  });

  it('accepts public IPv6, including addresses next to the mapped prefixes', () => {
    for (const ip of ['2606:4700::6810:84e5', '2001:4860:4860::8888', '2a00:1450:4001::1', '::fffe:7f00:1', '::1:0:0:1', '64:ff9a::7f00:1']) {
      expect(isInternalAddress(ip), ip).toBe(false);
    }
  });

  it('treats anything that is not an IP literal as internal', () => {
    for (const bad of ['', 'localhost', '127.1', '256.0.0.1', '1.2.3', 'example.com', '::ffff:999.0.0.1', '::g'])
      expect(isInternalAddress(bad), bad).toBe(true);
  });
});

describe('where an upstream may send us', () => {
  const http = new URL('http://registry.test:5000');
  const https = new URL('https://registry.test');
  const trusted = new Set(['http://127.0.0.1:9000', 'https://cdn.internal']);

  it('trusts the configured origins, even on internal addresses', () => {
    expect(routeFor(http, new URL('http://127.0.0.1:9000/blobs/x'), trusted)).toEqual({ via: 'trusted' });
    expect(routeFor(https, new URL('https://cdn.internal/x'), trusted)).toEqual({ via: 'trusted' });
  });

  it('refuses internal IP literals before connecting, in every spelling the URL parser accepts', () => {
    for (const target of [
      'http://127.0.0.1:9001/',
      'http://127.1/',
      'http://2130706433/',
      'http://0x7f000001/',
      'http://0/',
      'http://10.1.2.3/',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]:80/',
      'http://[::ffff:127.0.0.1]/',
      'http://[::ffff:a9fe:a9fe]/',
      'http://[fd00::1]/',
      'http://[fe80::1]/',
    ]) {
      expect(routeFor(http, new URL(target), trusted), target).toMatchObject({ refused: 'not a public address' });
    }
  });

  it('sends hostnames and public literals through the guarded pool', () => {
    expect(routeFor(http, new URL('http://localhost:9001/'), trusted)).toEqual({ via: 'guarded' });
    expect(routeFor(https, new URL('https://production.cloudflare.docker.com/x'), trusted)).toEqual({ via: 'guarded' });
    expect(routeFor(http, new URL('http://8.8.8.8/'), trusted)).toEqual({ via: 'guarded' });
  });

  it('refuses other schemes, and plain http from an https upstream even to a trusted origin', () => {
    expect(routeFor(http, new URL('file:///etc/passwd'), trusted)).toEqual({ refused: 'unsupported scheme' });
    expect(routeFor(http, new URL('ftp://example.com/x'), trusted)).toEqual({ refused: 'unsupported scheme' });
    expect(routeFor(https, new URL('http://example.com/x'), trusted)).toEqual({ refused: 'an https upstream may not send us to plain http' });
    expect(routeFor(https, new URL('http://127.0.0.1:9000/x'), trusted)).toMatchObject({ refused: expect.stringContaining('plain http') });
    expect(routeFor(http, new URL('https://example.com/x'), trusted)).toEqual({ via: 'guarded' });
  });
});

describe('guarded DNS lookup', () => {
  function resolver(addresses: LookupAddress[]): Resolver {
    return (_host, options, callback) => {
      expect(options).toEqual({ all: true, family: 0 });
      callback(null, addresses);
    };
  }
  function run(resolve: Resolver, options: { family?: number; all?: boolean }): Promise<{ err: Error | null; address: unknown; family?: number }> {
    return new Promise((done) => guardedLookup(resolve)('cdn.test', options, (err, address, family) => done({ err, address, family })));
  }

  it('passes public addresses on to the socket', async () => {
    const addrs = [
      { address: '104.16.1.1', family: 4 },
      { address: '2606:4700::1', family: 6 },
    ];
    expect(await run(resolver(addrs), { all: true })).toEqual({ err: null, address: addrs, family: undefined });
    expect(await run(resolver(addrs), {})).toEqual({ err: null, address: '104.16.1.1', family: 4 });
    expect(await run(resolver(addrs), { family: 6 })).toEqual({ err: null, address: '2606:4700::1', family: 6 });
  });

  it('refuses the host if any one of its addresses is internal, whichever family was asked for', async () => {
    const mixed = [
      { address: '104.16.1.1', family: 4 },
      { address: '::ffff:10.0.0.5', family: 6 },
    ];
    const { err } = await run(resolver(mixed), { family: 4 });
    expect(err).toBeInstanceOf(InternalAddressError);
    expect((err as InternalAddressError).address).toBe('::ffff:10.0.0.5');
    expect((await run(resolver([{ address: '127.0.0.1', family: 4 }]), { all: true })).err).toBeInstanceOf(InternalAddressError);
  });

  it('passes resolver errors on, and fails when no address of the asked family is left', async () => {
    const failing: Resolver = (_h, _o, cb) => cb(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }), []);
    expect(((await run(failing, {})).err as { code?: string }).code).toBe('ENOTFOUND');
    expect(((await run(resolver([{ address: '8.8.8.8', family: 4 }]), { family: 6 })).err as { code?: string }).code).toBe('ENOTFOUND');
  });
});
