import type { FillCoordinator } from '../../src/ports/fill-coordinator.js';
import { SingleFlight } from '../../src/util/single-flight.js';
import { fillCoordinatorContract, type ContractHandle } from './fill-coordinator.contract.js';
/** Frees the key when start settles, not when done does. */
class EarlyFree implements FillCoordinator<ContractHandle> {
  readonly #sf = new SingleFlight<ContractHandle>();
  current(key: string) { return this.#sf.current(key); }
  join(key: string, start: () => Promise<ContractHandle>, done: (h: ContractHandle) => Promise<unknown>) {
    const p = this.#sf.run(key, start);
    void p.then(done).catch(() => undefined);
    return p;
  }
  drain() { return this.#sf.drain(); }
}
fillCoordinatorContract('mutant', () => new EarlyFree());
