-- Coordination between replicas (src/cluster/postgres-cluster.ts). Times are the database's
-- clock in ms, so replicas' clocks need not agree.
-- A claim: one instance fills a blob, fetches a manifest or revalidates a tag; renewed by its heartbeat.
CREATE TABLE cluster_claims (
  key        TEXT COLLATE "C" PRIMARY KEY,
  instance   TEXT NOT NULL,
  address    TEXT,
  detail     TEXT,
  expires_at BIGINT NOT NULL
);
-- Blobs being read by an instance: the maintenance leader never deletes them.
CREATE TABLE cluster_reads (
  digest     TEXT COLLATE "C" NOT NULL,
  instance   TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (digest, instance)
);
-- Each upstream's pull quota, one view for every replica.
CREATE TABLE cluster_rate_limits (
  upstream       TEXT COLLATE "C" PRIMARY KEY,
  limit_value    BIGINT,
  remaining      BIGINT,
  window_seconds BIGINT,
  blocked_until  BIGINT NOT NULL,
  reason         TEXT,
  version        BIGINT NOT NULL
);
