import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, run } from './peers.js';

/**
 * A throwaway PostgreSQL cluster for the tests (after ../shared/scaleout/start-pg.sh):
 * initdb + pg_ctl from Debian's postgresql package, on a loopback port found at run time,
 * in a mkdtemp dir, fsync off, as the `postgres` user when we are root (PostgreSQL refuses
 * to run as root). Stopped by its postmaster's PID, and its dir removed.
 */
export interface PostgresCluster {
  /** postgres://postgres:<password>@127.0.0.1:<port>/<database> */
  url(database: string): string;
  /** The password in every URL (tests check it never reaches a log). */
  password: string;
  /** A new empty database of its own (each suite or test sees only its rows); its URL. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

/** The newest installed PostgreSQL's bin dir, if any. */
function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')) && existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(a) - Number(b));
  const newest = versions.at(-1);
  return newest === undefined ? undefined : join(root, newest, 'bin');
}

const isRoot = () => process.getuid?.() === 0;

/** The postgres user's uid and gid (root runs the server as it). */
function postgresUser(): { uid: number; gid: number } | undefined {
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/**
 * Why PostgreSQL cannot run here, if it cannot. Locally the suite is skipped with that
 * message; in CI (CI=true) it is a failure.
 */
export function missingPostgres(): string | undefined {
  let missing: string | undefined;
  if (postgresBin() === undefined) missing = 'PostgreSQL (initdb, pg_ctl under /usr/lib/postgresql)';
  else if (isRoot() && (postgresUser() === undefined || spawnSync('sh', ['-c', 'command -v runuser'], { stdio: 'ignore' }).status !== 0))
    missing = 'the postgres user or runuser (root runs PostgreSQL as postgres)';
  if (missing === undefined) return undefined;
  const message = `missing: ${missing} (apt-get install postgresql)`;
  if (process.env.CI === 'true') throw new Error(`${message}: required in CI`);
  console.warn(`skipping suite: ${message}`);
  return message;
}

/** The postmaster's PID, from the first line of postmaster.pid. */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function serverLog(dir: string): string {
  try {
    return readFileSync(join(dir, 'server.log'), 'utf8');
  } catch {
    return '(no server.log)';
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Immediate shutdown (the data is thrown away): SIGQUIT, then SIGKILL if it lingers. */
async function killPostmaster(pid: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // gone already
    }
  };
  signal('SIGQUIT');
  const deadline = Date.now() + 15_000;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      signal('SIGKILL');
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function startPostgres(): Promise<PostgresCluster> {
  const bin = postgresBin();
  if (bin === undefined) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const user = isRoot() ? postgresUser() : undefined;
  const as = (command: string, args: string[]) => (user ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args));

  const dir = mkdtempSync(join(tmpdir(), 'cargohold-pg-'));
  chmodSync(dir, 0o755); // mkdtemp's 0700 keeps the postgres user out
  let pid: number | undefined;
  try {
    const password = randomBytes(12).toString('hex');
    const pwFile = join(dir, 'pw');
    writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
    if (user) {
      chownSync(dir, user.uid, user.gid);
      chownSync(pwFile, user.uid, user.gid);
    }
    const data = join(dir, 'data');
    await as(join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      'postgres',
      `--pwfile=${pwFile}`,
      '-A',
      'scram-sha-256',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
      '--no-sync',
    ]);
    let port = 0;
    // The free port may be taken by another process before the server binds it: another port, twice more.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
      const started = await as(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o', options, 'start']).then(
        () => true,
        (err: Error) => {
          if (attempt >= 3) throw new Error(`${err.message}\n${serverLog(dir)}`);
          return false;
        },
      );
      pid = postmasterPid(data);
      if (started) break;
      if (pid !== undefined) await killPostmaster(pid);
      pid = undefined;
    }
    if (pid === undefined) throw new Error('PostgreSQL started but wrote no postmaster.pid');
    const url = (database: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${database}`;
    let databases = 0;
    const postmaster = pid;
    return {
      url,
      password,
      async createDatabase() {
        const name = `t${++databases}_${randomBytes(4).toString('hex')}`;
        const admin = new pg.Client({ connectionString: url('postgres') });
        await admin.connect();
        try {
          await admin.query(`CREATE DATABASE ${name}`);
        } finally {
          await admin.end();
        }
        return url(name);
      },
      async stop() {
        try {
          await killPostmaster(postmaster);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    const started = pid ?? postmasterPid(join(dir, 'data'));
    if (started !== undefined) await killPostmaster(started);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
