-- Eviction walks blobs least recently accessed first.
CREATE INDEX blobs_last_access ON blobs(last_access_at, digest);
