import { describe, expect, it } from 'vitest';
import { LiveTail } from '../../src/storage/live-tail.js';

const chunk = (from: number, length: number) => Buffer.from(Array.from({ length }, (_, i) => (from + i) % 256));

describe('a fill live tail', () => {
  it('serves the held bytes as slices of the upstream chunks, across chunk boundaries', () => {
    const tail = new LiveTail();
    tail.append(chunk(0, 10));
    tail.append(chunk(10, 5));
    expect([...(tail.slice(3, 100) ?? [])]).toEqual([...chunk(3, 7)]); // one chunk at a time
    expect([...(tail.slice(12, 2) ?? [])]).toEqual([...chunk(12, 2)]);
    expect(tail.slice(15, 1)).toBeUndefined(); // not received yet
    const out = Buffer.alloc(12);
    expect(tail.copy(out, 12, 2)).toBe(12);
    expect([...out]).toEqual([...chunk(2, 12)]);
    expect(tail.copy(out, 12, 14)).toBe(1);
  });

  it('drops only bytes already on disk, and keeps about 1 MiB of them', () => {
    const tail = new LiveTail();
    const size = 256 * 1024;
    for (let i = 0; i < 12; i++) tail.append(chunk(i * size, size));
    tail.trim(0);
    expect(tail.start).toBe(0); // nothing written: everything held
    tail.trim(12 * size);
    expect(tail.start).toBe(8 * size); // 4 chunks (1 MiB) kept
    tail.trim(20 * size);
    expect(tail.start).toBe(8 * size);
    expect(tail.slice(8 * size - 1, 1)).toBeUndefined(); // below the tail: read it from disk
    expect(tail.copy(Buffer.alloc(4), 4, 8 * size - 1)).toBe(0);
    const tail2 = new LiveTail();
    for (let i = 0; i < 12; i++) tail2.append(chunk(i * size, size));
    tail2.trim(2 * size); // unwritten chunks stay whatever their size
    expect(tail2.start).toBe(2 * size);
    tail2.clear();
    expect(tail2.slice(11 * size, 1)).toBeUndefined();
  });
});
