-- Images pinned by `cargohold pin`: kept by every eviction, always available offline.
CREATE TABLE pins (
  repository TEXT NOT NULL,
  reference  TEXT NOT NULL,
  pinned_at  INTEGER NOT NULL,
  PRIMARY KEY (repository, reference)
) WITHOUT ROWID;
