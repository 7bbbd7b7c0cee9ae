import { z } from 'zod';

/** Decimal units (kB = 1000) as disks are sold, binary units (KiB = 1024) as filesystems count. */
const UNITS: Record<string, number> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
};

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i;

/**
 * A size in bytes from a number or a string such as `1GiB`, `500MB`, `1.5 GiB` or `4096`
 * (units are case-insensitive; a fraction of a byte is rounded down). Undefined when it
 * is not a size.
 */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = SIZE.exec(value);
  if (!match) return undefined;
  const unit = UNITS[(match[2] as string).toLowerCase() || 'b'];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** A config value in bytes: a whole number or a size string (see parseByteSize). */
export const byteSize = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const bytes = parseByteSize(value);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: 'must be a number of bytes or a size such as 500MB or 1GiB' });
    return z.NEVER;
  }
  return bytes;
});
