import { RegistryError } from '../errors/registry-error.js';

/** An inclusive byte range within a blob of known size. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a single-range `Range: bytes=` header against a known size (RFC 9110 §14.1.2).
 * Returns undefined when there is no header. Malformed, multi-range and unsatisfiable
 * ranges throw RANGE_INVALID (416) with `Content-Range: bytes * /size`.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const unsatisfiable = (why: string): never => {
    throw new RegistryError('RANGE_INVALID', why, { headers: { 'Content-Range': `bytes */${size}` }, detail: { range: header } });
  };
  const spec = parseRangeSpec(header);
  if (spec.kind === 'suffix') {
    if (spec.length === 0 || size === 0) unsatisfiable('range not satisfiable');
    return { start: Math.max(0, size - spec.length), end: size - 1 };
  }
  if (spec.start >= size) unsatisfiable('range not satisfiable');
  const end = spec.end === undefined ? size - 1 : Math.min(spec.end, size - 1);
  return { start: spec.start, end };
}

export type RangeSpec = { kind: 'from'; start: number; end: number | undefined } | { kind: 'suffix'; length: number };

/** Syntax only, no size needed: lets a fill in progress (size not yet known) answer a Range. */
export function parseRangeSpec(header: string): RangeSpec {
  const malformed = (why: string): never => {
    throw new RegistryError('RANGE_INVALID', why, { detail: { range: header } });
  };
  const match = /^bytes=(.*)$/i.exec(header.trim());
  if (!match) return malformed('only "bytes=" ranges are supported');
  const ranges = (match[1] as string).split(',');
  if (ranges.length !== 1) return malformed('multiple ranges are not supported');
  const single = /^\s*(\d*)-(\d*)\s*$/.exec(ranges[0] as string);
  if (!single) return malformed('malformed range');
  const [, first = '', last = ''] = single;
  if (first === '' && last === '') return malformed('malformed range');
  if (first.length > 15 || last.length > 15) return malformed('range out of bounds');
  if (first === '') return { kind: 'suffix', length: Number(last) };
  const start = Number(first);
  const end = last === '' ? undefined : Number(last);
  if (end !== undefined && end < start) return malformed('range end before start');
  return { kind: 'from', start, end };
}
