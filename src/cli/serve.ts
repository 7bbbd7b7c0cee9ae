import { startServer } from '../main.js';
import { createLogger } from '../util/logger.js';
import { configFrom, parseCommand, STORE_OPTIONS, UsageError } from './common.js';

/** `cargohold serve`: runs the mirror until SIGTERM or SIGINT, then shuts down gracefully. */
export async function serveCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseCommand(args, { ...STORE_OPTIONS, listen: { type: 'string' }, offline: { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments (got '${positionals.join(' ')}')`);
  const config = configFrom(values, env);
  const logger = createLogger(config.logLevel, undefined, config.logFormat);
  let server;
  try {
    server = await startServer(config, logger);
  } catch (err) {
    process.stderr.write(`cargohold: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'signal received');
      process.once(signal, () => process.exit(130)); // a second signal stops at once
      void server.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
