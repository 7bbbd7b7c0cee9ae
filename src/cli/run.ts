import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import { startServer } from '../main.js';
import { createLogger } from '../util/logger.js';

export const USAGE = `cargohold: an OCI registry pull-through mirror and cache

Usage:
  cargohold serve [options]    run the mirror
  cargohold --help             show this help

Options for serve (each also as an environment variable):
  --listen HOST:PORT   address to listen on       CARGOHOLD_LISTEN    (default 0.0.0.0:5000)
  --data-dir DIR       blobs and metadata         CARGOHOLD_DATA_DIR  (default ./data)
  --upstream URL       the docker.io upstream     CARGOHOLD_UPSTREAM  (default https://registry-1.docker.io)
  --config FILE        YAML config file           CARGOHOLD_CONFIG    (example: config/cargohold.example.yaml)
  --log-level LEVEL    fatal|error|warn|info|debug|trace|silent   CARGOHOLD_LOG_LEVEL (default info)
  --offline            never contact the upstream; serve only what is cached   CARGOHOLD_OFFLINE=true
Upstream credentials (raise Docker Hub's rate limits): CARGOHOLD_UPSTREAM_USERNAME, CARGOHOLD_UPSTREAM_PASSWORD.
`;

/** Runs the CLI; returns the exit code (serve resolves only after a graceful shutdown). */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        listen: { type: 'string' },
        'data-dir': { type: 'string' },
        upstream: { type: 'string' },
        config: { type: 'string' },
        'log-level': { type: 'string' },
        offline: { type: 'boolean' },
      },
    });
  } catch (err) {
    process.stderr.write(`cargohold: ${(err as Error).message.split('. To specify')[0]}\nRun 'cargohold --help' for usage.\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || command === 'help' || command === undefined) {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (command !== 'serve' || positionals.length > 1) {
    process.stderr.write(`cargohold: unknown command '${positionals.join(' ')}'\nRun 'cargohold --help' for usage.\n`);
    return 2;
  }
  return serve(values, env);
}

async function serve(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<number> {
  let config;
  try {
    const flags: Record<string, unknown> = {};
    if (values.listen !== undefined) flags.listen = values.listen;
    if (values['data-dir'] !== undefined) flags.dataDir = values['data-dir'];
    if (values['log-level'] !== undefined) flags.logLevel = values['log-level'];
    if (values.upstream !== undefined) flags.upstream = { url: values.upstream };
    if (values.offline === true) flags.offline = true;
    config = loadConfig({ file: values.config as string | undefined, env, flags });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`cargohold: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  let server;
  try {
    server = await startServer(config, logger);
  } catch (err) {
    process.stderr.write(`cargohold: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'signal received');
      process.once(signal as NodeJS.Signals, () => process.exit(130)); // a second signal stops at once
      void server.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}
