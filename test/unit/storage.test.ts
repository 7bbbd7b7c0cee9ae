import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LiveTail } from '../../src/fill/live-tail.js';
import { DestinationClosed, pump, type PumpSource } from '../../src/storage/pump.js';

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

describe('the response pump', () => {
  /** A destination that accepts `ok` writes, then is destroyed by the next one (the client went away). */
  class ClosingDestination extends EventEmitter {
    destroyed = false;
    writes = 0;
    constructor(readonly ok: number) {
      super();
    }
    write(_chunk: Buffer, callback: (err?: Error) => void): boolean {
      this.writes++;
      if (this.writes <= this.ok) {
        process.nextTick(callback);
        return true;
      }
      this.destroyed = true;
      process.nextTick(() => {
        callback(new Error('socket destroyed'));
        this.emit('close');
      });
      return false;
    }
  }

  it('a client that goes away during the last writes fails the pump, and leaves no unhandled rejection behind', async () => {
    const data = Buffer.alloc(600 * 1024, 7); // three reads: 256 KiB, 256 KiB, 88 KiB
    const source: PumpSource = {
      ready: async (position, end) => Math.max(0, end - position + 1),
      read: async (buffer, length, position) => data.copy(buffer, 0, position, position + length),
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const out = new ClosingDestination(2);
      await expect(pump(source, 0, data.length - 1, out as unknown as Writable)).rejects.toThrow();
      expect(out.writes).toBe(3);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  /** Node 20: a write to a socket destroyed before its 'close' fired may never call back. */
  class SilentlyDestroyed extends EventEmitter {
    destroyed = false;
    writes = 0;
    write(_chunk: Buffer, callback: (err?: Error) => void): boolean {
      this.writes++;
      if (this.writes === 1) {
        process.nextTick(callback);
        return true;
      }
      this.destroyed = true; // this write's callback never comes
      setTimeout(() => this.emit('close'), 5);
      return false;
    }
  }

  const everyByte = (data: Buffer): PumpSource => ({
    ready: (position, end) => Math.max(0, end - position + 1),
    read: async (buffer, length, position) => data.copy(buffer, 0, position, position + length),
  });

  it('a write whose callback never comes is released by the close event: the pump rejects instead of hanging', async () => {
    const data = Buffer.alloc(1024 * 1024, 1);
    const out = new SilentlyDestroyed();
    await expect(pump(everyByte(data), 0, data.length - 1, out as unknown as Writable)).rejects.toBeInstanceOf(DestinationClosed);
    expect(out.writes).toBe(2); // nothing written once the destination was destroyed
    expect(out.listenerCount('close')).toBe(0); // its one listener removed
  });

  it('a wait for a source that brings nothing more is released when the client goes away', async () => {
    const out = new EventEmitter() as EventEmitter & { destroyed: boolean; write: () => boolean };
    out.destroyed = false;
    out.write = () => true;
    let waits = 0;
    const stalled: PumpSource = {
      ready: () => {
        waits++;
        return new Promise<number>(() => undefined); // a fill whose upstream paused for good
      },
      read: async () => 0,
    };
    const pumping = pump(stalled, 0, 100, out as unknown as Writable);
    await new Promise((resolve) => setTimeout(resolve, 10));
    out.destroyed = true;
    out.emit('close');
    await expect(pumping).rejects.toBeInstanceOf(DestinationClosed);
    expect(waits).toBe(1);
    expect(out.listenerCount('close')).toBe(0);
  });

  it('a destination destroyed before the pump starts gets nothing written', async () => {
    const out = new SilentlyDestroyed();
    out.destroyed = true;
    await expect(pump(everyByte(Buffer.alloc(10)), 0, 9, out as unknown as Writable)).rejects.toBeInstanceOf(DestinationClosed);
    expect(out.writes).toBe(0);
  });
});
