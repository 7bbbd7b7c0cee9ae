import { isIP } from 'node:net';

/**
 * Which IP addresses cargohold refuses to contact on an upstream's say-so (a redirect, a
 * token realm): anything that is not a public unicast address. An upstream must not be
 * able to point the mirror at its own host, the LAN or a cloud metadata service.
 */

/** [first address, prefix length] of each refused IPv4 range. */
const INTERNAL_V4: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // private
  ['192.168.0.0', 16], // private
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

const V4_RANGES = INTERNAL_V4.map(([base, bits]) => ({ base: v4ToInt(base) as number, mask: bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0 }));

/** True unless `address` (an IPv4 or IPv6 literal) is a public unicast address; garbage counts as internal. */
export function isInternalAddress(address: string): boolean {
  const plain = address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''); // URL brackets, IPv6 zone id
  const family = isIP(plain);
  if (family === 4) return isInternalV4(v4ToInt(plain) as number);
  if (family === 6) return isInternalV6(v6ToGroups(plain));
  return true;
}

function isInternalV4(ip: number): boolean {
  return V4_RANGES.some((r) => (ip & r.mask) >>> 0 === r.base);
}

function isInternalV6(g: number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = ((g6 << 16) | g7) >>> 0;
  const zero64 = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0;
  // ::/96 holds :: (unspecified), ::1 (loopback) and the deprecated IPv4-compatible form.
  if (zero64 && g4 === 0 && g5 === 0) return g6 === 0 || isInternalV4(embedded);
  // IPv4-mapped ::ffff:a.b.c.d, and the translated ::ffff:0:a.b.c.d (SIIT).
  if (zero64 && g4 === 0 && g5 === 0xffff) return isInternalV4(embedded);
  if (zero64 && g4 === 0xffff && g5 === 0) return isInternalV4(embedded);
  // NAT64 64:ff9b::a.b.c.d reaches the embedded IPv4 address.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return isInternalV4(embedded);
  if ((g0 & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local
  if ((g0 & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
  if ((g0 & 0xffc0) === 0xfec0) return true; // fec0::/10 site-local (deprecated, still routed internally)
  if ((g0 & 0xff00) === 0xff00) return true; // ff00::/8 multicast
  return false;
}

function v4ToInt(text: string): number | undefined {
  const parts = text.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return (((parts[0] as number) << 24) | ((parts[1] as number) << 16) | ((parts[2] as number) << 8) | (parts[3] as number)) >>> 0;
}

/** The eight 16-bit groups of a valid IPv6 literal (checked by isIP), with a dotted IPv4 tail expanded. */
function v6ToGroups(text: string): number[] {
  let s = text.toLowerCase();
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)?.[1];
  if (tail !== undefined) {
    const v4 = v4ToInt(tail) ?? 0;
    s = `${s.slice(0, -tail.length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const [head = '', rest] = s.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const fill = rest === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((h) => parseInt(h, 16));
}
