-- Several upstreams: a stored repository names its registry (docker.io/library/node,
-- ghcr.io/foo/bar), so the same name on two upstreams never collides. Everything stored
-- before came from Docker Hub. Blobs and manifests are keyed by digest and stay as they are.
UPDATE repositories SET name = 'docker.io/' || name WHERE name NOT LIKE 'docker.io/%';
UPDATE pins SET repository = 'docker.io/' || repository WHERE repository NOT LIKE 'docker.io/%';
