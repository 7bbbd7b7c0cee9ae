-- What the mirror served, per hour, upstream, repository and principal ('' anonymous): the
-- dashboard's chart and `cargohold report` (SQLite's 006_traffic.sql). Replicas add to the same
-- rows in batches (INSERT ... ON CONFLICT DO UPDATE adds atomically).
CREATE TABLE traffic (
  hour                BIGINT NOT NULL,
  upstream            TEXT COLLATE "C" NOT NULL,
  repository          TEXT COLLATE "C" NOT NULL,
  principal           TEXT COLLATE "C" NOT NULL,
  hits                BIGINT NOT NULL DEFAULT 0,
  misses              BIGINT NOT NULL DEFAULT 0,
  stale               BIGINT NOT NULL DEFAULT 0,
  coalesced           BIGINT NOT NULL DEFAULT 0,
  pull_hits           BIGINT NOT NULL DEFAULT 0,
  pull_misses         BIGINT NOT NULL DEFAULT 0,
  pull_stale          BIGINT NOT NULL DEFAULT 0,
  pull_coalesced      BIGINT NOT NULL DEFAULT 0,
  bytes_from_cache    BIGINT NOT NULL DEFAULT 0,
  bytes_from_upstream BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, upstream, repository, principal)
);
