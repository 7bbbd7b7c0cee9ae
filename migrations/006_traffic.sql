-- What the mirror served, per hour, upstream, repository and principal ('' anonymous):
-- the dashboard's chart and `cargohold report`. Added to in batches, never per request.
CREATE TABLE traffic (
  hour INTEGER NOT NULL,
  upstream TEXT NOT NULL,
  repository TEXT NOT NULL,
  principal TEXT NOT NULL,
  hits INTEGER NOT NULL DEFAULT 0,
  misses INTEGER NOT NULL DEFAULT 0,
  stale INTEGER NOT NULL DEFAULT 0,
  coalesced INTEGER NOT NULL DEFAULT 0,
  pull_hits INTEGER NOT NULL DEFAULT 0,
  pull_misses INTEGER NOT NULL DEFAULT 0,
  pull_stale INTEGER NOT NULL DEFAULT 0,
  pull_coalesced INTEGER NOT NULL DEFAULT 0,
  bytes_from_cache INTEGER NOT NULL DEFAULT 0,
  bytes_from_upstream INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, upstream, repository, principal)
) WITHOUT ROWID;
