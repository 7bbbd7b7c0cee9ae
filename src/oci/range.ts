import { RegistryError } from '../errors/registry-error.js';

/** An inclusive byte range within a blob of known size. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a `Range: bytes=` header against a known size (RFC 9110 §14.1.2). Returns undefined
 * when there is no header, or when it asks for several ranges of which one at least is
 * satisfiable: we send no multipart/byteranges, and a server MAY ignore Range (§14.2), so
 * the whole blob (200) is the answer. Malformed and unsatisfiable ranges throw
 * RANGE_INVALID (416) with `Content-Range: bytes * /size`.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const unsatisfiable = (why: string): never => {
    throw new RegistryError('RANGE_INVALID', why, { headers: { 'Content-Range': `bytes */${size}` }, detail: { range: header } });
  };
  const specs = parseRangeSpecs(header);
  const resolved = specs.map((spec) => resolve(spec, size));
  if (specs.length > 1) {
    if (resolved.some((range) => range !== undefined)) return undefined;
    return unsatisfiable('none of the ranges is satisfiable');
  }
  return resolved[0] ?? unsatisfiable('range not satisfiable');
}

/** One range spec against the size; undefined when it is not satisfiable. */
function resolve(spec: RangeSpec, size: number): ByteRange | undefined {
  if (spec.kind === 'suffix') {
    if (spec.length === 0 || size === 0) return undefined;
    return { start: Math.max(0, size - spec.length), end: size - 1 };
  }
  if (spec.start >= size) return undefined;
  return { start: spec.start, end: spec.end === undefined ? size - 1 : Math.min(spec.end, size - 1) };
}

export type RangeSpec = { kind: 'from'; start: number; end: number | undefined } | { kind: 'suffix'; length: number };

/** Syntax only, no size needed: a single range spec (a list of several throws RANGE_INVALID). */
export function parseRangeSpec(header: string): RangeSpec {
  const specs = parseRangeSpecs(header);
  if (specs.length !== 1) throw new RegistryError('RANGE_INVALID', 'multiple ranges are not supported', { detail: { range: header } });
  return specs[0] as RangeSpec;
}

/** Syntax only: every range spec of the header, in order; any malformed one throws RANGE_INVALID. */
export function parseRangeSpecs(header: string): RangeSpec[] {
  const malformed = (why: string): never => {
    throw new RegistryError('RANGE_INVALID', why, { detail: { range: header } });
  };
  const match = /^bytes=(.*)$/i.exec(header.trim());
  if (!match) return malformed('only "bytes=" ranges are supported');
  const ranges = (match[1] as string).split(',');
  // Bound the work a header can cause; real clients send one or a few.
  if (ranges.length > 100) return malformed('too many ranges');
  return ranges.map((text) => {
    const single = /^\s*(\d*)-(\d*)\s*$/.exec(text);
    if (!single) return malformed('malformed range');
    const [, first = '', last = ''] = single;
    if (first === '' && last === '') return malformed('malformed range');
    if (first.length > 15 || last.length > 15) return malformed('range out of bounds');
    if (first === '') return { kind: 'suffix', length: Number(last) } as const;
    const start = Number(first);
    const end = last === '' ? undefined : Number(last);
    if (end !== undefined && end < start) return malformed('range end before start');
    return { kind: 'from', start, end } as const;
  });
}
