import { describe, expect, it } from 'vitest';
import { TtlCache } from '../../src/core/ttl-cache.js';

/** Lets a finished fetch free its key (the single flight lets go a few microtasks after it settles). */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('TtlCache', () => {
  it('keeps a value for the TTL, shares one fetch among callers, stores no failure, and keeps at most maxEntries keys', async () => {
    let time = 1_000_000;
    const cache = new TtlCache<string>({ ttlSeconds: 10, maxEntries: 2, now: () => time });
    let fetches = 0;
    const fetch = (value: string) => async () => {
      fetches++;
      return value;
    };
    expect(await Promise.all([cache.get('a', fetch('a1')), cache.get('a', fetch('a2'))])).toEqual(['a1', 'a1']);
    expect(fetches).toBe(1);
    await settle();
    time += 9_999;
    expect(await cache.get('a', fetch('a3'))).toBe('a1');
    time += 1;
    expect(await cache.get('a', fetch('a4'))).toBe('a4');
    expect(fetches).toBe(2);
    await expect(cache.get('b', () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    await settle();
    expect(await cache.get('b', fetch('b1'))).toBe('b1');
    expect(await cache.get('c', fetch('c1'))).toBe('c1'); // a (the oldest) goes
    await settle();
    expect(fetches).toBe(4);
    expect(await cache.get('b', fetch('b2'))).toBe('b1');
    expect(await cache.get('a', fetch('a5'))).toBe('a5');
    expect(fetches).toBe(5);
  });
});
