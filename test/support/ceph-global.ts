import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { stopCeph } from './ceph.js';

/**
 * vitest globalSetup: a directory for this run's Ceph (test/support/ceph.ts starts it there
 * when the first S3 suite asks), and, when the run ends, its daemons stopped by PID and the
 * directory removed. A run with no S3 suite starts nothing.
 */
export default function setup(project: TestProject): () => void {
  const runDir = mkdtempSync(join(tmpdir(), 'cargohold-ceph-run-'));
  project.provide('cephRunDir', runDir);
  return () => {
    stopCeph(runDir);
    rmSync(runDir, { recursive: true, force: true });
  };
}
