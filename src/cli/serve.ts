import { inspect } from 'node:util';
import { StorageError } from '../errors/storage-error.js';
import { DataDirInUse, startServer } from '../main.js';
import { createLogger } from '../util/logger.js';
import { configFrom, DETAILS_HINT, EnvironmentError, parseCommand, STORE_OPTIONS, UsageError } from './common.js';
import { checkDataDir, explainOpenFailure } from './data-dir-check.js';

/** A failure to start that its one line explains: what the machine refused (the data dir, the port, another server). */
function expected(err: unknown): boolean {
  if (err instanceof EnvironmentError || err instanceof StorageError || err instanceof DataDirInUse) return true;
  const { code, syscall } = (err ?? {}) as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && typeof syscall === 'string'; // a system call's failure: EADDRINUSE, EACCES on the port
}

/** `cargohold serve`: runs the mirror until SIGTERM or SIGINT, then shuts down gracefully. */
export async function serveCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    ...STORE_OPTIONS,
    listen: { type: 'string' },
    offline: { type: 'boolean' },
    'no-create': { type: 'boolean' },
  });
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments (got '${positionals.join(' ')}')`);
  const config = configFrom(values, env);
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  const dir = config.dataDir;
  // Signals are caught from the start: one arriving between the "listening" line and the end of start-up still shuts down gracefully.
  let early: NodeJS.Signals | undefined;
  let stop = (signal: NodeJS.Signals) => void (early ??= signal);
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  let server;
  try {
    // The one command that creates a missing data dir (a first start), unless told not to.
    await checkDataDir(dir, { create: values['no-create'] !== true, missing: `no data dir at ${dir} (--no-create); create it or check the path` });
    server = await startServer(config, logger);
  } catch (err) {
    const message = err instanceof StorageError ? explainOpenFailure(err, dir) : (err instanceof Error ? err.message : String(err)).split('\n')[0];
    process.stderr.write(`cargohold: cannot start: ${message}\n`);
    // Anything else is a bug: the stack helps, at debug.
    if (!expected(err)) process.stderr.write(config.logLevel === 'debug' || config.logLevel === 'trace' ? `${inspect(err)}\n` : DETAILS_HINT);
    return 1;
  }
  const running = server;
  await new Promise<void>((resolve) => {
    stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'signal received');
      process.once(signal, () => process.exit(130)); // a second signal stops at once
      void running.close().then(resolve);
    };
    if (early) stop(early);
  });
  return 0;
}
