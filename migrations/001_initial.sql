-- Repositories seen through the mirror (Docker Hub names normalised: library/node).
CREATE TABLE repositories (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
);

-- Manifests by digest, kept as the exact bytes received (never re-serialised).
CREATE TABLE manifests (
  digest         TEXT PRIMARY KEY,
  media_type     TEXT NOT NULL,
  size           INTEGER NOT NULL,
  content        BLOB NOT NULL,
  created_at     INTEGER NOT NULL,
  last_access_at INTEGER NOT NULL
);

-- What a manifest points at: child manifests of an index, config and layers of an image.
CREATE TABLE manifest_references (
  manifest_digest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
  child_digest    TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('manifest', 'config', 'layer', 'subject')),
  PRIMARY KEY (manifest_digest, child_digest, kind)
);
CREATE INDEX manifest_references_child ON manifest_references(child_digest);

-- Tag → manifest digest; fetched_at: when the digest was last fetched, checked_at: last confirmed upstream.
CREATE TABLE tags (
  repository_id   INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  name            TEXT NOT NULL,
  manifest_digest TEXT NOT NULL REFERENCES manifests(digest),
  fetched_at      INTEGER NOT NULL,
  checked_at      INTEGER NOT NULL,
  PRIMARY KEY (repository_id, name)
) WITHOUT ROWID;

-- Verified blob files on disk. A row exists only after the file was fsynced and renamed into place.
CREATE TABLE blobs (
  digest         TEXT PRIMARY KEY,
  size           INTEGER NOT NULL,
  created_at     INTEGER NOT NULL,
  last_access_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Which repository the upstream confirmed holds which blob / manifest: nobody reads
-- another repository's content by guessing digests.
CREATE TABLE repository_blobs (
  repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  blob_digest   TEXT NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,
  linked_at     INTEGER NOT NULL,
  PRIMARY KEY (repository_id, blob_digest)
) WITHOUT ROWID;

CREATE TABLE repository_manifests (
  repository_id   INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  manifest_digest TEXT NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
  linked_at       INTEGER NOT NULL,
  PRIMARY KEY (repository_id, manifest_digest)
) WITHOUT ROWID;
