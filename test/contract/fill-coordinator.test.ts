import { SingleFlight } from '../../src/util/single-flight.js';
import { fillCoordinatorContract } from './fill-coordinator.contract.js';

fillCoordinatorContract('SingleFlight (in process)', () => new SingleFlight());
