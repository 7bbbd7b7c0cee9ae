/**
 * The statements of the PostgreSQL metadata repo, by name (each is prepared once per
 * connection under its name). Camel-case aliases are quoted: PostgreSQL folds bare ones to
 * lower case. Names and digests are COLLATE "C" columns, so ORDER BY and `>` compare code
 * points, as on SQLite.
 */
const BLOB_ENTRY = 'digest, size, created_at AS "createdAt", last_access_at AS "lastAccessAt"';
const LEASE = 'instance, endpoint, description, host, acquired_at AS "acquiredAt", expires_at AS "expiresAt"';

export const SQL = {
  repoId: 'SELECT id FROM repositories WHERE name = $1',
  repoInsert: 'INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id',
  repoList: 'SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2',

  manifestFind: `SELECT m.digest, m.media_type AS "mediaType", m.content,
      EXISTS (SELECT 1 FROM repository_manifests rm JOIN repositories r ON r.id = rm.repository_id
              WHERE r.name = $2 AND rm.manifest_digest = m.digest) AS linked
    FROM manifests m WHERE m.digest = $1`,
  manifestInsert: `INSERT INTO manifests (digest, media_type, size, content, created_at, last_access_at) VALUES ($1, $2, $3, $4, $5, $5)
    ON CONFLICT (digest) DO NOTHING`,
  referencesInsert: `INSERT INTO manifest_references (manifest_digest, child_digest, kind)
    SELECT $1, child, kind FROM unnest($2::text[], $3::text[]) AS r(child, kind) ON CONFLICT DO NOTHING`,
  // Linking a digest not (or no longer) recorded does nothing: the caller found it a moment ago, GC may have raced it.
  manifestLink: `INSERT INTO repository_manifests (repository_id, manifest_digest, linked_at)
    SELECT $1, digest, $2 FROM manifests WHERE digest = $3 ON CONFLICT DO NOTHING`,
  referrers: `SELECT m.digest, m.media_type AS "mediaType", m.content FROM manifest_references mr
    JOIN manifests m ON m.digest = mr.manifest_digest
    JOIN repository_manifests rm ON rm.manifest_digest = m.digest
    JOIN repositories r ON r.id = rm.repository_id AND r.name = $1
    WHERE mr.child_digest = $2 AND mr.kind = 'subject' ORDER BY m.digest`,
  manifestsTouch: `UPDATE manifests m SET last_access_at = greatest(m.last_access_at, v.at)
    FROM unnest($1::text[], $2::bigint[]) AS v(digest, at) WHERE m.digest = v.digest`,

  tagFind: `SELECT m.digest, m.media_type AS "mediaType", m.content, t.checked_at AS "checkedAt"
    FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN manifests m ON m.digest = t.manifest_digest
    WHERE r.name = $1 AND t.name = $2`,
  tagPut: `INSERT INTO tags (repository_id, name, manifest_digest, fetched_at, checked_at) VALUES ($1, $2, $3, $4, $4)
    ON CONFLICT (repository_id, name) DO UPDATE SET manifest_digest = excluded.manifest_digest, fetched_at = excluded.fetched_at, checked_at = excluded.checked_at`,
  tagChecked: 'UPDATE tags t SET checked_at = $1 FROM repositories r WHERE r.id = t.repository_id AND r.name = $2 AND t.name = $3',
  tagDelete: 'DELETE FROM tags t USING repositories r WHERE r.id = t.repository_id AND r.name = $1 AND t.name = $2',
  tagList: 'SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3',

  blobFind: `SELECT b.size,
      EXISTS (SELECT 1 FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
              WHERE r.name = $2 AND rb.blob_digest = b.digest) AS linked
    FROM blobs b WHERE b.digest = $1`,
  blobInsert: `INSERT INTO blobs (digest, size, created_at, last_access_at) VALUES ($1, $2, $3, $3)
    ON CONFLICT (digest) DO UPDATE SET size = excluded.size`,
  blobLinks: `INSERT INTO repository_blobs (repository_id, blob_digest, linked_at)
    SELECT r.id, b.digest, $2 FROM blobs b, unnest($1::bigint[]) AS r(id) WHERE b.digest = $3 ON CONFLICT DO NOTHING`,
  blobDelete: 'DELETE FROM blobs WHERE digest = $1',
  blobsTouch: `UPDATE blobs b SET last_access_at = greatest(b.last_access_at, v.at)
    FROM unnest($1::text[], $2::bigint[]) AS v(digest, at) WHERE b.digest = v.digest`,

  inventory: `SELECT (SELECT count(*) FROM repositories) AS repositories, (SELECT count(*) FROM tags) AS tags,
    (SELECT count(*) FROM manifests) AS manifests, (SELECT count(*) FROM blobs) AS blobs,
    (SELECT coalesce(sum(size), 0)::bigint FROM blobs) AS bytes`,
  usage: 'SELECT count(*) AS blobs, coalesce(sum(size), 0)::bigint AS bytes FROM blobs',
  images: `WITH RECURSIVE
      tagged(repository, tag, digest) AS (
        SELECT r.name, t.name, t.manifest_digest FROM tags t JOIN repositories r ON r.id = t.repository_id
        WHERE $1::text IS NULL OR r.name = $1::text),
      tree(repository, tag, digest) AS (
        SELECT repository, tag, digest FROM tagged
        UNION SELECT tr.repository, tr.tag, mr.child_digest FROM manifest_references mr JOIN tree tr ON mr.manifest_digest = tr.digest
        WHERE mr.kind = 'manifest'),
      stored(repository, tag, bytes) AS (
        SELECT repository, tag, sum(size) FROM (
          SELECT DISTINCT tr.repository, tr.tag, b.digest, b.size FROM tree tr
          JOIN manifest_references mr ON mr.manifest_digest = tr.digest AND mr.kind IN ('config', 'layer')
          JOIN blobs b ON b.digest = mr.child_digest) AS s
        GROUP BY repository, tag)
    SELECT tg.repository, tg.tag, tg.digest, m.media_type AS "mediaType", coalesce(s.bytes, 0)::bigint AS "storedBytes",
      m.last_access_at AS "lastAccessAt"
    FROM tagged tg JOIN manifests m ON m.digest = tg.digest LEFT JOIN stored s ON s.repository = tg.repository AND s.tag = tg.tag
    ORDER BY tg.repository COLLATE "C", tg.tag COLLATE "C"`,
  blobList: `SELECT ${BLOB_ENTRY} FROM blobs WHERE digest > $1 ORDER BY digest LIMIT $2`,
  evictable: `WITH RECURSIVE
      roots(digest) AS (
        SELECT t.manifest_digest FROM pins p JOIN repositories r ON r.name = p.repository
          JOIN tags t ON t.repository_id = r.id AND t.name = p.reference
        UNION SELECT p.reference FROM pins p WHERE p.reference LIKE '%:%'
        UNION SELECT digest FROM manifests WHERE last_access_at >= $1),
      kept(digest) AS (
        SELECT digest FROM roots
        UNION SELECT mr.child_digest FROM manifest_references mr JOIN kept k ON mr.manifest_digest = k.digest WHERE mr.kind = 'manifest')
    SELECT ${BLOB_ENTRY} FROM blobs b
    WHERE (b.last_access_at, b.digest) > ($2::bigint, $3::text)
      AND NOT EXISTS (SELECT 1 FROM manifest_references mr JOIN kept k ON k.digest = mr.manifest_digest
                      WHERE mr.child_digest = b.digest AND mr.kind IN ('config', 'layer'))
    ORDER BY b.last_access_at, b.digest LIMIT $4`,
  unreferenced: `SELECT ${BLOB_ENTRY} FROM blobs b
    WHERE b.created_at < $1 AND b.digest > $2
      AND NOT EXISTS (SELECT 1 FROM manifest_references mr WHERE mr.child_digest = b.digest AND mr.kind <> 'subject')
    ORDER BY b.digest LIMIT $3`,

  pinPut: 'INSERT INTO pins (repository, reference, pinned_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
  pinDelete: 'DELETE FROM pins WHERE repository = $1 AND reference = $2',
  pinList: 'SELECT repository, reference, pinned_at AS "pinnedAt" FROM pins ORDER BY repository, reference',

  leaseGet: `SELECT ${LEASE} FROM leases WHERE name = $1`,
  leaseCurrent: `SELECT ${LEASE} FROM leases WHERE name = $1 AND expires_at > $2`,
  // Compare-and-set in one statement: ON CONFLICT locks the row, so of two processes (on any
  // hosts) taking a free or expired lease at once exactly one gets it; the other sees it held.
  leaseTake: `INSERT INTO leases (name, instance, endpoint, description, host, acquired_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, endpoint = excluded.endpoint, description = excluded.description, host = excluded.host,
      acquired_at = CASE WHEN leases.instance = excluded.instance THEN leases.acquired_at ELSE excluded.acquired_at END,
      expires_at = excluded.expires_at
    WHERE leases.instance = excluded.instance OR leases.expires_at <= $6
    RETURNING ${LEASE}`,
  leaseTakeOver: `UPDATE leases SET instance = $3, endpoint = $4, description = $5, host = $6, acquired_at = $7, expires_at = $8
    WHERE name = $1 AND instance = $2 RETURNING ${LEASE}`,
  leaseRenew: 'UPDATE leases SET expires_at = $1 WHERE name = $2 AND instance = $3',
  leaseRelease: 'DELETE FROM leases WHERE name = $1 AND instance = $2',
} as const;

export type StatementName = keyof typeof SQL;
