import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool } from 'pg';

/** migrations/postgres/ at the package root, from src/metadata (tsx) or dist/metadata (built). */
export const POSTGRES_MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations', 'postgres');

/**
 * The advisory lock key of the migrations (any constant: advisory locks are per database).
 * Replicas starting together against one database take turns: the first applies what is
 * missing, the others then find it applied.
 */
const MIGRATION_LOCK = 0x63_61_72_67_6f; // "cargo"

/**
 * Applies migrations/postgres/NNN_*.sql not yet in cargohold_migrations, each in its own
 * transaction, holding the advisory lock on one connection throughout. Returns how many it applied.
 */
export async function migratePostgres(pool: Pool, migrationsDir = POSTGRES_MIGRATIONS_DIR): Promise<number> {
  const files = readdirSync(migrationsDir)
    .map((name) => ({ name, version: Number(/^(\d+)_.*\.sql$/.exec(name)?.[1]) }))
    .filter((f) => Number.isInteger(f.version))
    .sort((a, b) => a.version - b.version);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(
        'CREATE TABLE IF NOT EXISTS cargohold_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const done = new Set((await client.query<{ version: number }>('SELECT version FROM cargohold_migrations')).rows.map((r) => r.version));
      let applied = 0;
      for (const file of files) {
        if (done.has(file.version)) continue;
        const sql = readFileSync(join(migrationsDir, file.name), 'utf8');
        await client.query('BEGIN');
        try {
          await client.query(sql);
          await client.query('INSERT INTO cargohold_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
            file.version,
            file.name,
            Date.now(),
          ]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
        applied++;
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch((err: Error) => {
        broken = err; // a connection that may still hold the lock is not given back to the pool
      });
    }
  } catch (err) {
    broken ??= err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
}
