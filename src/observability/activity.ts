import type { Logger } from 'pino';
import type { MetadataRepo } from '../ports/metadata-repo.js';
import { RecentList, type MaintenanceRun, type RecentRequest } from './recent.js';
import { TrafficRecorder } from './traffic-recorder.js';
import { UpstreamHealth } from './upstream-health.js';

/** What the mirror has been doing, beyond the counters of /metrics: the dashboard and `cargohold report` read it. */
export interface Activity {
  /** Served responses per hour, upstream, repository and principal, kept in the metadata store. */
  traffic: TrafficRecorder;
  upstreams: UpstreamHealth;
  requests: RecentList<RecentRequest>;
  maintenance: RecentList<MaintenanceRun>;
}

const RECENT_REQUESTS = 50;
const RECENT_RUNS = 20;

export function createActivity(metadata: MetadataRepo, logger: Logger, now: () => number): Activity {
  return {
    traffic: new TrafficRecorder(metadata, logger, now),
    upstreams: new UpstreamHealth(now),
    requests: new RecentList(RECENT_REQUESTS),
    maintenance: new RecentList(RECENT_RUNS),
  };
}
