/** What the scenarios measure; every array holds one sample per run. */
export interface Meta {
  date: string;
  nproc: number;
  node: string;
  memoryGiB: number;
  cpu: string;
  kernel: string;
  tools: string[];
  /** git describe of the tree measured (src/ may move on). */
  commit: string;
  runs: number;
  seconds: number;
  totalSeconds?: number;
  /** 1-minute load average before and after the run (other work on the machine skews figures). */
  loadBefore: number;
  loadAfter?: number;
}

export type ManifestCase = 'headTag' | 'getTag' | 'getDigest';
export type ManifestServer = 'cargohold' | 'cargohold-ttl0' | 'cargohold-info' | 'proxy';

export interface ColdClients {
  /** Wall time (ms) of 1 client and of 20 clients, each on a cold server. */
  t1: number[];
  t20: number[];
  /** Bytes the upstream sent for blob GETs during the 1- and 20-client runs. */
  bytes1: number[];
  bytes20: number[];
  gets20: number[];
  /** Peak RSS (MB) of the server during each 20-client run. */
  rss20: number[];
}

export type ColdOnePath = 'cargohold' | 'cargoholdRunning' | 'direct' | 'proxy' | 'relayHttp' | 'relayHash' | 'relayPipe';

/** Scenario 7, one cold client on the big blob; seconds, one sample per run. */
export interface ColdOne {
  /** curl's time_total: cargohold started for it, a running cargohold, the upstream directly, distribution's proxy. */
  total: Record<ColdOnePath, number[]>;
  /** curl's time_starttransfer (time to the first body byte), same runs. */
  ttfb: Record<ColdOnePath, number[]>;
  /** sha256 of the blob in memory by one Node process, fed 64 KiB and 256 KiB at a time. */
  hash64k: number[];
  hash256k: number[];
  /** The faster of the two in each run: what no verifying mirror can beat. */
  floor: number[];
}

export interface MemoryScenario {
  size: number;
  clients: number;
  cachedWallMs: number;
  cachedRss: number;
  coldWallMs: number;
  coldRss: number;
  coldUpstreamBytes: number;
}

/** Scenario 8: 3 replicas on PostgreSQL + S3 against one embedded cargohold; one sample per run. */
export interface ReplicasScenario {
  /** Wall seconds of 20 cold clients: one embedded cargohold, 3 replicas (clients spread over them). */
  embedded20: number[];
  /** One replica on PostgreSQL + S3, all 20 clients on it. */
  single20: number[];
  singleBytes: number[];
  replicas20: number[];
  /** Blob bytes the upstream sent in those runs, and its blob GETs for the replicas. */
  embeddedBytes: number[];
  replicasBytes: number[];
  replicasGets: number[];
  /** Warm: aggregate GB/s of the 20 clients over the replicas; bytes/s of one client through a replica, straight from the gateway (presigned), through the embedded cargohold. */
  warm20: number[];
  warm1: number[];
  s3Direct1: number[];
  embeddedWarm1: number[];
}

export interface Results {
  meta: Meta;
  blobSize: number;
  /** GB/s (10^9 bytes/s) with 1 and with 32 connections; node: the plain node:http file server. */
  throughput: Record<'cargohold' | 'nginx' | 'node' | 'proxy', { c1: number[]; c32: number[] }>;
  /** cargoholdIdle: VmHWM right after start, before any request. */
  warmRss: { cargoholdIdle: number; cargohold: number; proxy: number; nginx: number };
  /**
   * Seconds of `skopeo copy`: through a cargohold started for the pull (fresh process and data
   * dir), through one already running (it pulled another image first; this one is not cached),
   * and straight from the upstream.
   */
  coldPull: { cargohold: number[]; cargoholdRunning: number[]; direct: number[] };
  cold: Record<'cargohold' | 'proxy', ColdClients>;
  coldOne: ColdOne;
  /** req/s. */
  manifests: Record<ManifestServer, Partial<Record<ManifestCase, number[]>>>;
  /** Upstream manifest requests (HEAD or GET) per client request, per run. */
  manifestUpstream: Record<ManifestServer, Partial<Record<ManifestCase, number[]>>>;
  memory: MemoryScenario | undefined;
  replicas: ReplicasScenario;
  notes: string[];
}

export function emptyCold(): ColdClients {
  return { t1: [], t20: [], bytes1: [], bytes20: [], gets20: [], rss20: [] };
}

export function emptyResults(meta: Meta): Results {
  return {
    meta,
    blobSize: 0,
    throughput: { cargohold: { c1: [], c32: [] }, nginx: { c1: [], c32: [] }, node: { c1: [], c32: [] }, proxy: { c1: [], c32: [] } },
    warmRss: { cargoholdIdle: Number.NaN, cargohold: Number.NaN, proxy: Number.NaN, nginx: Number.NaN },
    coldPull: { cargohold: [], cargoholdRunning: [], direct: [] },
    cold: { cargohold: emptyCold(), proxy: emptyCold() },
    coldOne: {
      total: { cargohold: [], cargoholdRunning: [], direct: [], proxy: [], relayHttp: [], relayHash: [], relayPipe: [] },
      ttfb: { cargohold: [], cargoholdRunning: [], direct: [], proxy: [], relayHttp: [], relayHash: [], relayPipe: [] },
      hash64k: [],
      hash256k: [],
      floor: [],
    },
    manifests: { cargohold: {}, 'cargohold-ttl0': {}, 'cargohold-info': {}, proxy: {} },
    manifestUpstream: { cargohold: {}, 'cargohold-ttl0': {}, 'cargohold-info': {}, proxy: {} },
    memory: undefined,
    replicas: {
      embedded20: [],
      single20: [],
      singleBytes: [],
      replicas20: [],
      embeddedBytes: [],
      replicasBytes: [],
      replicasGets: [],
      warm20: [],
      warm1: [],
      s3Direct1: [],
      embeddedWarm1: [],
    },
    notes: [],
  };
}
