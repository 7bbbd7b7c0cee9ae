import { afterEach, describe, expect, it } from 'vitest';
import { fillClaimKey, type Cluster } from '../../src/ports/cluster.js';

/** A replica of the shared state under test; stall() stops its heartbeat (it hangs or died). */
export type Replica = Cluster & { stall(): void };

export interface ClusterFixture {
  /** A new replica on the shared state, its claims and reads expiring after ttlMs without a heartbeat. */
  replica(instance: string, ttlMs: number): Replica;
  cleanup(): Promise<void>;
}

const TTL = 600;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The behaviour every shared Cluster implementation has (MemoryCluster, PostgresCluster). */
export function clusterContract(name: string, open: () => Promise<ClusterFixture>): void {
  describe(`Cluster contract: ${name}`, () => {
    let fixture: ClusterFixture | undefined;
    const replicas: Replica[] = [];
    const start = async (...instances: string[]): Promise<Replica[]> => {
      fixture ??= await open();
      const made = instances.map((i) => fixture!.replica(i, TTL));
      replicas.push(...made);
      return made;
    };
    afterEach(async () => {
      await Promise.all(replicas.splice(0).map((r) => r.close()));
      await fixture?.cleanup();
      fixture = undefined;
    });

    it('grants a key to one replica and names it, with its address and detail, to the others', async () => {
      const [a, b] = await start('a', 'b');
      a!.setAddress('http://10.0.0.1:5000');
      const first = await a!.claim('blob:x', 'docker.io/library/node');
      expect('held' in first).toBe(true);
      expect(await b!.claim('blob:x')).toEqual({ owner: { instance: 'a', address: 'http://10.0.0.1:5000', detail: 'docker.io/library/node' } });
      // Its own claim again: still held by it.
      expect('held' in (await a!.claim('blob:x'))).toBe(true);
      expect('held' in (await b!.claim('blob:y'))).toBe(true);
    });

    it('frees a released key: waitReleased resolves true and the next claim wins', async () => {
      const [a, b] = await start('a', 'b');
      const first = await a!.claim('k');
      if (!('held' in first)) throw new Error('not held');
      const waiting = b!.waitReleased('k', 5000);
      await sleep(50);
      await first.held.release();
      expect(await waiting).toBe(true);
      expect('held' in (await b!.claim('k'))).toBe(true);
      // A stale release of a claim now someone else's removes nothing.
      await first.held.release();
      expect(await a!.claim('k')).toMatchObject({ owner: { instance: 'b' } });
    });

    it('keeps a claim alive past its TTL while its heartbeat runs; waitReleased gives up after its timeout', async () => {
      const [a, b] = await start('a', 'b');
      await a!.claim('k');
      expect(await b!.waitReleased('k', TTL * 2)).toBe(false);
      expect(await b!.claim('k')).toMatchObject({ owner: { instance: 'a' } });
    });

    it('expires the claims of a replica whose heartbeat stopped, and another takes the key', async () => {
      const [a, b] = await start('a', 'b');
      await a!.claim('k');
      a!.stall();
      expect(await b!.waitReleased('k', TTL * 4)).toBe(true);
      expect('held' in (await b!.claim('k'))).toBe(true);
    });

    it('takes over from a dead owner at once, and only from that owner', async () => {
      const [a, b, c] = await start('a', 'b', 'c');
      await a!.claim('k');
      const taken = await b!.takeOver('k', { instance: 'a', address: undefined, detail: undefined });
      expect('held' in taken).toBe(true);
      // c thinks a is dead too, but b holds it now: c does not take it from b.
      expect(await c!.takeOver('k', { instance: 'a', address: undefined, detail: undefined })).toMatchObject({ owner: { instance: 'b' } });
    });

    it('gives a key claimed by many replicas at once to exactly one', async () => {
      const many = await start('r1', 'r2', 'r3', 'r4', 'r5', 'r6');
      for (let round = 0; round < 5; round++) {
        const results = await Promise.all(many.map((r) => r.claim(`race-${round}`)));
        expect(results.filter((r) => 'held' in r)).toHaveLength(1);
        const winner = many[results.findIndex((r) => 'held' in r)]!.instance;
        for (const r of results) if ('owner' in r) expect(r.owner.instance).toBe(winner);
      }
    });

    it('publishes reads: another replica sees the digest in use until the last read ends', async () => {
      const [a, b] = await start('a', 'b');
      const one = await a!.holdRead('sha256:aa');
      const two = await a!.holdRead('sha256:aa');
      expect(await b!.inUseElsewhere('sha256:aa')).toBe(true);
      expect(await a!.inUseElsewhere('sha256:aa')).toBe(false);
      one();
      one(); // twice is once
      expect(await b!.inUseElsewhere('sha256:aa')).toBe(true);
      two();
      await expect.poll(() => b!.inUseElsewhere('sha256:aa')).toBe(false);
      // A fill claimed elsewhere is in use too.
      await a!.claim(fillClaimKey('sha256:bb'));
      expect(await b!.inUseElsewhere('sha256:bb')).toBe(true);
    });

    it('forgets the reads of a replica whose heartbeat stopped, and keeps those renewed', async () => {
      const [a, b, c] = await start('a', 'b', 'c');
      await a!.holdRead('sha256:aa');
      await c!.holdRead('sha256:cc');
      a!.stall();
      await sleep(TTL * 2);
      expect(await b!.inUseElsewhere('sha256:aa')).toBe(false);
      expect(await b!.inUseElsewhere('sha256:cc')).toBe(true);
    });

    it('shares each upstream rate-limit state with a version that grows on every change', async () => {
      const [a, b] = await start('a', 'b');
      expect(await b!.rateLimits()).toEqual([]);
      const update = {
        upstream: 'docker.io',
        limit: 100,
        remaining: 0,
        windowSeconds: 21600,
        blockedUntil: 1_900_000_000_000,
        reason: 'upstream answered 429',
      };
      const v1 = await a!.publishRateLimit(update);
      expect(await b!.rateLimits()).toEqual([{ ...update, version: v1 }]);
      const v2 = await b!.publishRateLimit({ ...update, remaining: 5, blockedUntil: 0, reason: undefined });
      expect(v2).toBeGreaterThan(v1);
      expect(await a!.rateLimits()).toEqual([
        { upstream: 'docker.io', limit: 100, remaining: 5, windowSeconds: 21600, blockedUntil: 0, reason: undefined, version: v2 },
      ]);
      // Headroom alone leaves a block as it is (a replica that has not seen it yet cannot lift it).
      await a!.publishRateLimit(update);
      const v4 = await b!.publishRateLimit({ ...update, remaining: 3, blockedUntil: 0, reason: undefined }, { headroomOnly: true });
      expect(await a!.rateLimits()).toEqual([{ ...update, remaining: 3, version: v4 }]);
    });

    it('releases everything a replica holds when it closes', async () => {
      const [a, b] = await start('a', 'b');
      await a!.claim('k');
      await a!.holdRead('sha256:aa');
      await a!.close();
      expect('held' in (await b!.claim('k'))).toBe(true);
      expect(await b!.inUseElsewhere('sha256:aa')).toBe(false);
    });
  });
}
