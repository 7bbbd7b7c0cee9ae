-- The schema of the SQLite migrations 001-004, in one step (PostgreSQL has no older databases to bring along).
-- Times are ms since the epoch (BIGINT); names and digests compare by code point (COLLATE "C"), as SQLite's do,
-- so paging with `after` is the same whatever the database's locale.

-- Repositories seen through the mirror (Docker Hub names normalised: library/node).
CREATE TABLE repositories (
  id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       TEXT COLLATE "C" NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);

-- Manifests by digest, kept as the exact bytes received (never re-serialised).
CREATE TABLE manifests (
  digest         TEXT COLLATE "C" PRIMARY KEY,
  media_type     TEXT NOT NULL,
  size           BIGINT NOT NULL,
  content        BYTEA NOT NULL,
  created_at     BIGINT NOT NULL,
  last_access_at BIGINT NOT NULL
);

-- What a manifest points at: child manifests of an index, config and layers of an image, its subject.
CREATE TABLE manifest_references (
  manifest_digest TEXT COLLATE "C" NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
  child_digest    TEXT COLLATE "C" NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('manifest', 'config', 'layer', 'subject')),
  PRIMARY KEY (manifest_digest, child_digest, kind)
);
CREATE INDEX manifest_references_child ON manifest_references(child_digest);

-- Tag → manifest digest; fetched_at: when the digest was last fetched, checked_at: last confirmed upstream.
CREATE TABLE tags (
  repository_id   BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  name            TEXT COLLATE "C" NOT NULL,
  manifest_digest TEXT COLLATE "C" NOT NULL REFERENCES manifests(digest),
  fetched_at      BIGINT NOT NULL,
  checked_at      BIGINT NOT NULL,
  PRIMARY KEY (repository_id, name)
);

-- Verified blobs in the blob store. A row exists only after the bytes were committed there.
CREATE TABLE blobs (
  digest         TEXT COLLATE "C" PRIMARY KEY,
  size           BIGINT NOT NULL,
  created_at     BIGINT NOT NULL,
  last_access_at BIGINT NOT NULL
);
-- Eviction walks blobs least recently accessed first.
CREATE INDEX blobs_last_access ON blobs(last_access_at, digest);

-- Which repository the upstream confirmed holds which blob / manifest: nobody reads
-- another repository's content by guessing digests.
CREATE TABLE repository_blobs (
  repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  blob_digest   TEXT COLLATE "C" NOT NULL REFERENCES blobs(digest) ON DELETE CASCADE,
  linked_at     BIGINT NOT NULL,
  PRIMARY KEY (repository_id, blob_digest)
);
-- forgetBlob cascades by digest.
CREATE INDEX repository_blobs_digest ON repository_blobs(blob_digest);

CREATE TABLE repository_manifests (
  repository_id   BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
  manifest_digest TEXT COLLATE "C" NOT NULL REFERENCES manifests(digest) ON DELETE CASCADE,
  linked_at       BIGINT NOT NULL,
  PRIMARY KEY (repository_id, manifest_digest)
);

-- Images pinned by `cargohold pin`: kept by every eviction, always available offline.
CREATE TABLE pins (
  repository TEXT COLLATE "C" NOT NULL,
  reference  TEXT COLLATE "C" NOT NULL,
  pinned_at  BIGINT NOT NULL,
  PRIMARY KEY (repository, reference)
);

-- Leases: the one `serve` per data dir holds 'filler', renewed by a heartbeat (time-based: no PIDs).
-- endpoint: the holder's admin API.
CREATE TABLE leases (
  name        TEXT PRIMARY KEY,
  instance    TEXT NOT NULL,
  endpoint    TEXT NOT NULL,
  description TEXT NOT NULL,
  host        TEXT NOT NULL,
  acquired_at BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL
);
