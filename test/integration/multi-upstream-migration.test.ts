import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin/admin-client.js';
import { image, randomLayer } from '../fixtures/images.js';
import { FakeHub } from '../support/fake-hub.js';
import { http } from '../support/http.js';
import { startMirror } from '../support/mirror.js';
import { pull } from '../support/pull.js';

/**
 * A data dir the single-upstream code made: its repositories and pins have no registry
 * (`library/node`) and its schema is at version 4 (no traffic table). Made here by filling one with this code
 * and taking it back to that shape, which is exactly what the old code wrote.
 */
function asOldDataDir(dataDir: string): void {
  const db = new Database(join(dataDir, 'cargohold.db'));
  try {
    db.exec(`UPDATE repositories SET name = substr(name, length('docker.io/') + 1);
             UPDATE pins SET repository = substr(repository, length('docker.io/') + 1);
             DROP TABLE traffic;
             PRAGMA user_version = 4;`);
  } finally {
    db.close();
  }
}

function storedNames(dataDir: string): { repositories: string[]; pins: string[]; version: number } {
  const db = new Database(join(dataDir, 'cargohold.db'), { readonly: true });
  try {
    return {
      repositories: (db.prepare('SELECT name FROM repositories ORDER BY name').all() as Array<{ name: string }>).map((r) => r.name),
      pins: (db.prepare('SELECT repository FROM pins ORDER BY repository').all() as Array<{ repository: string }>).map((r) => r.repository),
      version: db.pragma('user_version', { simple: true }) as number,
    };
  } finally {
    db.close();
  }
}

describe('a data dir from the single-upstream version', () => {
  let hub: FakeHub;
  let dir: string;
  beforeEach(async () => {
    hub = await FakeHub.start();
    dir = mkdtempSync(join(tmpdir(), 'cargohold-migrate-'));
  });
  afterEach(async () => {
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('becomes docker.io/...: everything is served with no upstream request, pins kept', async () => {
    const overrides = { upstream: { ...hub.trusted, tagTtlSeconds: 3600 } };
    const img = image([randomLayer(4000), randomLayer(2000)]);
    hub.push('library/node', '17', img);
    hub.push('myorg/app', '1', image([randomLayer(100)]));
    const first = await startMirror(hub.registryUrl, overrides, dir);
    try {
      await pull(first.url, 'library/node', '17');
      await pull(first.url, 'myorg/app', '1');
      await first.idle();
    } finally {
      await first.close();
    }
    // A pin as the old code stored it (no registry in the name).
    const db = new Database(join(dir, 'cargohold.db'));
    db.prepare('INSERT INTO pins (repository, reference, pinned_at) VALUES (?, ?, ?)').run('docker.io/library/node', '17', Date.now());
    db.close();
    asOldDataDir(dir);
    expect(storedNames(dir)).toEqual({ repositories: ['library/node', 'myorg/app'], pins: ['library/node'], version: 4 });

    const second = await startMirror(hub.registryUrl, overrides, dir);
    try {
      expect(storedNames(dir)).toEqual({
        repositories: ['docker.io/library/node', 'docker.io/myorg/app'],
        pins: ['docker.io/library/node'],
        version: 6,
      });
      hub.resetCounts();
      expect((await pull(second.url, 'node', '17')).digest).toBe(img.manifest.digest);
      await pull(second.url, 'myorg/app', '1');
      expect((await pull(second.url, 'docker.io/library/node', '17')).digest).toBe(img.manifest.digest);
      expect(hub.requests).toHaveLength(0);
      expect((await http(second.url, '/v2/_catalog')).json()).toEqual({ repositories: ['docker.io/library/node', 'docker.io/myorg/app'] });
      expect((await new AdminClient(second.adminSocket).pins()).map((p) => `${p.repository}:${p.reference}`)).toEqual(['docker.io/library/node:17']);
    } finally {
      await second.close();
    }
  });
});
