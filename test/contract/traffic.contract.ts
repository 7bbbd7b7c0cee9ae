import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MetadataRepo } from '../../src/ports/metadata-repo.js';
import { DAY_MS, HOUR_MS, zeroCounts, type TrafficRow } from '../../src/ports/traffic.js';
import type { MadeMetadataRepo } from './metadata-repo.contract.js';

/** A day boundary far from 0 (UTC midnight), so a key computed from a clock that was never read cannot pass. */
const DAY0 = 1_700_006_400_000;

function row(over: Partial<TrafficRow>): TrafficRow {
  return { ...zeroCounts(), hour: DAY0, upstream: 'docker.io', repository: 'library/node', principal: '', ...over };
}

/** The traffic part of the MetadataRepo contract (the dashboard's chart and `cargohold report`). */
export function trafficContract(name: string, make: (now: () => number) => Promise<MadeMetadataRepo>): void {
  describe(`MetadataRepo contract, traffic: ${name}`, () => {
    let repo: MetadataRepo;
    let cleanup: (() => Promise<void>) | undefined;

    beforeEach(async () => {
      const made = await make(() => DAY0);
      repo = made.repo;
      cleanup = made.cleanup;
    });

    afterEach(async () => {
      const done = cleanup;
      cleanup = undefined;
      await done?.();
    });

    it('total of nothing is one row of zeros; other groups are empty', async () => {
      expect(await repo.trafficTotals({ since: 0, by: 'total' })).toEqual([{ key: '', ...zeroCounts() }]);
      for (const by of ['hour', 'day', 'upstream', 'repository', 'principal'] as const) {
        expect(await repo.trafficTotals({ since: 0, by })).toEqual([]);
      }
    });

    it('adds to the same hour, upstream, repository and principal (an hour is keyed by its start)', async () => {
      await repo.addTraffic([
        row({ hour: DAY0 + 5, hits: 2, bytesFromCache: 100 }),
        row({ hour: DAY0 + HOUR_MS - 1, misses: 1, bytesFromUpstream: 7 }),
      ]);
      await repo.addTraffic([row({ hits: 1, pullHits: 1, pullMisses: 2, pullStale: 3, pullCoalesced: 4, stale: 5, coalesced: 6 })]);
      expect(await repo.trafficTotals({ since: 0, by: 'hour' })).toEqual([
        {
          key: String(DAY0),
          ...zeroCounts(),
          hits: 3,
          misses: 1,
          stale: 5,
          coalesced: 6,
          pullHits: 1,
          pullMisses: 2,
          pullStale: 3,
          pullCoalesced: 4,
          bytesFromCache: 100,
          bytesFromUpstream: 7,
        },
      ]);
    });

    it('groups by hour and day in time order, and by upstream, repository and principal in name order', async () => {
      await repo.addTraffic([
        row({ hour: DAY0 + DAY_MS + 2 * HOUR_MS, repository: 'library/alpine', hits: 1 }),
        row({ hour: DAY0 + HOUR_MS, upstream: 'ghcr.io', repository: 'foo/bar', principal: 'ci', hits: 2 }),
        row({ hour: DAY0, principal: 'alice', misses: 4, bytesFromUpstream: 10 }),
      ]);
      const keys = async (by: 'hour' | 'day' | 'upstream' | 'repository' | 'principal') =>
        (await repo.trafficTotals({ since: 0, by })).map((t) => [t.key, t.hits, t.misses]);
      expect(await keys('hour')).toEqual([
        [String(DAY0), 0, 4],
        [String(DAY0 + HOUR_MS), 2, 0],
        [String(DAY0 + DAY_MS + 2 * HOUR_MS), 1, 0],
      ]);
      expect(await keys('day')).toEqual([
        [String(DAY0), 2, 4],
        [String(DAY0 + DAY_MS), 1, 0],
      ]);
      expect(await keys('upstream')).toEqual([
        ['docker.io', 1, 4],
        ['ghcr.io', 2, 0],
      ]);
      expect(await keys('repository')).toEqual([
        ['foo/bar', 2, 0],
        ['library/alpine', 1, 0],
        ['library/node', 0, 4],
      ]);
      expect(await keys('principal')).toEqual([
        ['', 1, 0],
        ['alice', 0, 4],
        ['ci', 2, 0],
      ]);
      expect((await repo.trafficTotals({ since: 0, by: 'total' }))[0]).toMatchObject({ key: '', hits: 3, misses: 4, bytesFromUpstream: 10 });
    });

    it('since counts from the hour holding it; until is exclusive', async () => {
      await repo.addTraffic([row({ hour: DAY0, hits: 1 }), row({ hour: DAY0 + HOUR_MS, hits: 10 }), row({ hour: DAY0 + 2 * HOUR_MS, hits: 100 })]);
      const hits = async (since: number, until?: number) => (await repo.trafficTotals({ since, until, by: 'total' }))[0]?.hits;
      expect(await hits(DAY0 + HOUR_MS + 59_000)).toBe(110);
      expect(await hits(DAY0, DAY0 + 2 * HOUR_MS)).toBe(11);
      expect(await hits(DAY0 + 3 * HOUR_MS)).toBe(0);
    });

    it('keeps byte counts past 2^32 exactly', async () => {
      const big = 5 * 2 ** 32 + 3;
      await repo.addTraffic([row({ bytesFromCache: big }), row({ bytesFromCache: big })]);
      expect((await repo.trafficTotals({ since: 0, by: 'total' }))[0]?.bytesFromCache).toBe(2 * big);
    });
  });
}
