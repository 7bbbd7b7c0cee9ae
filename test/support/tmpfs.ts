import { spawnSync } from 'node:child_process';

/**
 * A small tmpfs mounted on dir: a real filesystem that fills up (ENOSPC) without
 * filling the machine's disk. Needs root (mount); without it the suite is skipped with a
 * message, and with CI=true that is a failure. Returns the unmount.
 */
export function mountTmpfs(dir: string, bytes: number): (() => void) | string {
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    const message = `cannot mount a tmpfs (needs root): ${mounted.stderr.trim() || mounted.error?.message}`;
    if (process.env.CI === 'true') throw new Error(`${message}: required in CI`);
    return message;
  }
  return () => {
    const unmounted = spawnSync('umount', ['-l', dir], { encoding: 'utf8' });
    if (unmounted.status !== 0) throw new Error(`umount ${dir}: ${unmounted.stderr}`);
  };
}

/**
 * Makes path (a directory or a file) read-only where it is, by bind-mounting it onto itself
 * and remounting that read-only: root ignores permission bits, not a read-only mount. Needs
 * root, like mountTmpfs (a message to skip with, or a failure with CI=true). Returns the unmount.
 */
export function mountReadOnly(path: string): (() => void) | string {
  const bound = spawnSync('mount', ['--bind', path, path], { encoding: 'utf8' });
  if (bound.status !== 0) {
    const message = `cannot bind-mount ${path} (needs root): ${bound.stderr.trim() || bound.error?.message}`;
    if (process.env.CI === 'true') throw new Error(`${message}: required in CI`);
    return message;
  }
  const unmount = () => {
    const unmounted = spawnSync('umount', ['-l', path], { encoding: 'utf8' });
    if (unmounted.status !== 0) throw new Error(`umount ${path}: ${unmounted.stderr}`);
  };
  const ro = spawnSync('mount', ['-o', 'remount,bind,ro', path], { encoding: 'utf8' });
  if (ro.status !== 0) {
    unmount();
    throw new Error(`remount ${path} read-only: ${ro.stderr}`);
  }
  return unmount;
}
