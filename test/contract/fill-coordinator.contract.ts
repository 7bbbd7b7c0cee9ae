import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FillCoordinator } from '../../src/ports/fill-coordinator.js';
import { waitFor } from '../support/wait.js';

/** What the suite's work hands out: which key and which start made it, so sharing is checkable by identity. */
export interface ContractHandle {
  key: string;
  serial: number;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether a promise has settled, looked at after the event loop had a chance to settle it. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await sleep(20);
  return done;
}

/** The promise's value, or a failure naming what did not happen in time (a join that wrongly started new work never resolves). */
function within<T>(promise: Promise<T>, what: string, ms = 1_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** How long an implementation may take to free a key once its work is done (a shared database answers in a round trip). */
const FREE_WITHIN_MS = 2_000;

/**
 * The FillCoordinator contract: one start per key at a time, every joiner gets the same
 * handle, and the key stays taken until `done` settles. Only behaviour visible through the
 * port is checked, so a coordinator claiming keys in a shared database passes it unchanged.
 */
export function fillCoordinatorContract(name: string, make: () => FillCoordinator<ContractHandle> | Promise<FillCoordinator<ContractHandle>>): void {
  describe(`FillCoordinator contract: ${name}`, () => {
    let coordinator: FillCoordinator<ContractHandle>;
    let serial: number;
    /** Work the test left unfinished is finished after it, so drain in afterEach cannot hang. */
    let unfinished: Array<() => void>;

    beforeEach(async () => {
      serial = 0;
      unfinished = [];
      coordinator = await make();
    });

    afterEach(async () => {
      for (const finish of unfinished) finish();
      await coordinator.drain();
    });

    /** A start that counts its calls and resolves (or rejects) when told. */
    function work(key: string) {
      const started = deferred<ContractHandle>();
      const finished = deferred();
      unfinished.push(() => {
        started.resolve({ key, serial: -1 }); // no effect when it settled already
        finished.resolve();
      });
      const calls = { start: 0, done: [] as ContractHandle[] };
      const start = () => {
        calls.start++;
        return started.promise;
      };
      const done = (handle: ContractHandle) => {
        calls.done.push(handle);
        return finished.promise;
      };
      return { calls, start, done, started, finished, handle: (): ContractHandle => ({ key, serial: ++serial }) };
    }

    const freed = (key: string) => waitFor(() => coordinator.current(key) === undefined, FREE_WITHIN_MS, `${key} to be free`);

    it('two concurrent joins start the work once and get the same handle; done is called once, with it', async () => {
      const first = work('k');
      const second = work('k');
      const a = coordinator.join('k', first.start, first.done);
      const b = coordinator.join('k', second.start, second.done);
      const handle = first.handle();
      first.started.resolve(handle);
      const [ha, hb] = await within(Promise.all([a, b]), 'both joins');
      expect(ha).toBe(handle);
      expect(hb).toBe(handle);
      expect(first.calls.start + second.calls.start).toBe(1);
      await waitFor(() => first.calls.done.length + second.calls.done.length > 0, FREE_WITHIN_MS, 'done to be called');
      expect([...first.calls.done, ...second.calls.done]).toEqual([handle]);
      expect([...first.calls.done, ...second.calls.done][0]).toBe(handle);
    });

    it('current is undefined for a free key, the work in progress while it runs, and undefined once done settled', async () => {
      expect(coordinator.current('k')).toBeUndefined();
      const w = work('k');
      const joined = coordinator.join('k', w.start, w.done);
      const running = coordinator.current('k');
      expect(running).toBeDefined();
      const handle = w.handle();
      w.started.resolve(handle);
      expect(await running).toBe(handle);
      expect(await joined).toBe(handle);
      expect(coordinator.current('other')).toBeUndefined();
      w.finished.resolve();
      await freed('k');
    });

    it('the key stays taken after start resolved, until done settles: a join meanwhile gets the same handle', async () => {
      const w = work('k');
      const handle = w.handle();
      w.started.resolve(handle);
      expect(await coordinator.join('k', w.start, w.done)).toBe(handle);
      await sleep(20);
      const late = work('k');
      expect(await within(coordinator.join('k', late.start, late.done), 'a join of the taken key')).toBe(handle);
      expect(late.calls.start).toBe(0);
      expect(await coordinator.current('k')).toBe(handle);
      w.finished.resolve();
      await freed('k');
      const next = work('k');
      const nextHandle = next.handle();
      next.started.resolve(nextHandle);
      expect(await coordinator.join('k', next.start, next.done)).toBe(nextHandle);
      expect(next.calls.start).toBe(1);
    });

    it('a start that rejects: every joiner sees the rejection, done is not called, and the key is free again', async () => {
      const w = work('k');
      const a = coordinator.join('k', w.start, w.done);
      const b = coordinator.join('k', w.start, w.done);
      const failure = new Error('upstream gone');
      w.started.reject(failure);
      await expect(a).rejects.toBe(failure);
      await expect(b).rejects.toBe(failure);
      expect(w.calls.start).toBe(1);
      await freed('k');
      expect(w.calls.done).toEqual([]);
      const retry = work('k');
      const handle = retry.handle();
      retry.started.resolve(handle);
      expect(await coordinator.join('k', retry.start, retry.done)).toBe(handle);
      expect(retry.calls.start).toBe(1);
    });

    it('a done that rejects frees the key too, without an unhandled rejection', async () => {
      const w = work('k');
      const handle = w.handle();
      w.started.resolve(handle);
      expect(await coordinator.join('k', w.start, w.done)).toBe(handle);
      w.finished.reject(new Error('commit failed'));
      await freed('k');
      const next = work('k');
      next.started.resolve(next.handle());
      await coordinator.join('k', next.start, next.done);
      expect(next.calls.start).toBe(1);
    });

    it('drain resolves at once with nothing in progress', async () => {
      expect(await settled(coordinator.drain())).toBe(true);
    });

    it('drain waits for every done, even one that rejects', async () => {
      const one = work('one');
      const two = work('two');
      one.started.resolve(one.handle());
      two.started.resolve(two.handle());
      await coordinator.join('one', one.start, one.done);
      await coordinator.join('two', two.start, two.done);
      const drained = coordinator.drain();
      expect(await settled(drained)).toBe(false);
      one.finished.resolve();
      expect(await settled(drained)).toBe(false);
      two.finished.reject(new Error('failed at the end'));
      await expect(drained).resolves.toBeUndefined();
      expect(coordinator.current('one')).toBeUndefined();
      expect(coordinator.current('two')).toBeUndefined();
    });

    it('drain waits for work whose start has not resolved yet', async () => {
      const w = work('k');
      void coordinator.join('k', w.start, w.done);
      const drained = coordinator.drain();
      expect(await settled(drained)).toBe(false);
      w.started.resolve(w.handle());
      expect(await settled(drained)).toBe(false); // started, but not done
      w.finished.resolve();
      await drained;
    });

    it('different keys run independently', async () => {
      const a = work('a');
      const b = work('b');
      const ja = coordinator.join('a', a.start, a.done);
      const jb = coordinator.join('b', b.start, b.done);
      const hb = b.handle();
      b.started.resolve(hb);
      expect(await jb).toBe(hb); // b does not wait for a
      expect(a.calls.start).toBe(1);
      expect(b.calls.start).toBe(1);
      const ha = a.handle();
      a.started.resolve(ha);
      expect(await ja).toBe(ha);
      expect(ha).not.toBe(hb);
      b.finished.resolve();
      await freed('b');
      expect(await coordinator.current('a')).toBe(ha); // a is still taken
      a.finished.resolve();
      await freed('a');
    });
  });
}
