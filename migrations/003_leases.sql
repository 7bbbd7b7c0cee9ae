-- Leases: the one `serve` per data dir holds 'filler', renewed by a heartbeat (time-based: no PIDs,
-- which two containers sharing the volume both see as 1). endpoint: the holder's admin API.
CREATE TABLE leases (
  name        TEXT PRIMARY KEY,
  instance    TEXT NOT NULL,
  endpoint    TEXT NOT NULL,
  description TEXT NOT NULL,
  host        TEXT NOT NULL,
  acquired_at INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
