import Database from 'better-sqlite3';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Db = Database.Database;

/** migrations/ at the package root, from src/metadata (tsx) or dist/metadata (built). */
export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'migrations');

/** Opens the metadata database (WAL, busy timeout, foreign keys) and brings its schema up to date. */
export function openDatabase(path: string, migrationsDir = MIGRATIONS_DIR): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  // NORMAL under WAL cannot corrupt; at worst the last commits before a power cut are lost,
  // which for us means a blob row missing: a miss, refetched.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  migrate(db, migrationsDir);
  return db;
}

/** Applies migrations/NNN_*.sql above PRAGMA user_version, each in its own transaction. */
export function migrate(db: Db, migrationsDir: string): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  const files = readdirSync(migrationsDir)
    .map((name) => ({ name, version: Number(/^(\d+)_.*\.sql$/.exec(name)?.[1]) }))
    .filter((f) => Number.isInteger(f.version))
    .sort((a, b) => a.version - b.version);
  let applied = 0;
  for (const file of files) {
    if (file.version <= current) continue;
    const sql = readFileSync(join(migrationsDir, file.name), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${file.version}`);
    }).immediate();
    applied++;
  }
  return applied;
}
