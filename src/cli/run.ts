import { guard, UsageError, wantsDetails } from './common.js';
import { gcCommand, lsCommand, statsCommand, verifyCommand } from './maintenance.js';
import { pinsCommand, unpinCommand } from './pins.js';
import { serveCommand } from './serve.js';
import { pinCommand, warmCommand } from './warm.js';

export const USAGE = `cargohold: an OCI registry pull-through mirror and cache for Docker Hub

Usage:
  cargohold serve [options]              run the mirror
  cargohold warm [options] <image>...    fetch whole images into the cache ahead of time
  cargohold pin [options] <image>...     warm images and keep them forever
  cargohold unpin [options] <image>...   stop keeping them
  cargohold pins [options]               list pinned images
  cargohold ls [options] [REPO]          list cached images (--json)
  cargohold stats [options]              what the cache holds (--json)
  cargohold gc [options] [--dry-run]     evict by the cache policy and collect garbage; what it frees
  cargohold verify [options] [--repair]  re-hash every blob; --repair removes corrupt ones
  cargohold --help                       show this help

Options (each also as an environment variable or config key):
  --listen HOST:PORT   serve: address to listen on   CARGOHOLD_LISTEN    (default 0.0.0.0:5000)
  --data-dir DIR       blobs and metadata            CARGOHOLD_DATA_DIR  (default ./data)
  --upstream URL       the docker.io upstream        CARGOHOLD_UPSTREAM  (default https://registry-1.docker.io)
  --config FILE        YAML config file              CARGOHOLD_CONFIG    (example: config/cargohold.example.yaml)
  --log-level LEVEL    fatal|error|warn|info|debug|trace|silent   CARGOHOLD_LOG_LEVEL (default info)
  --log-format FORMAT  json (one object a line) | pretty (readable)  CARGOHOLD_LOG_FORMAT (default json)
  --offline            serve: never contact the upstream; serve only what is cached   CARGOHOLD_OFFLINE=true
Upstream credentials (raise Docker Hub's rate limits): CARGOHOLD_UPSTREAM_USERNAME, CARGOHOLD_UPSTREAM_PASSWORD.
Metadata on PostgreSQL instead of SQLite in the data dir: CARGOHOLD_POSTGRES_URL=postgres://USER:PASSWORD@HOST:PORT/DB.

Options for serve:
  --no-create          refuse to start if the data dir does not exist (other commands always refuse)

Options for warm and pin:
  --platform OS/ARCH[/VARIANT]   platform to fetch from a multi-arch image (repeatable; default: this host's)
  --all-platforms                every platform
  --dockerfile FILE              warm every parent image the Dockerfile's FROM lines name
  --from-file FILE               warm one image reference per line
  --concurrency N                blobs fetched at once (default 4)
  --refresh                      ask the upstream about tags now, even within their TTL
  --build-arg NAME=VALUE         a Dockerfile ARG's value (repeatable), as docker build takes it
warm, pin, unpin, pins, ls, stats, gc and verify go through the running server's admin API (a unix socket in the data
directory) when a server holds the data directory; otherwise they work on it directly.
`;

const COMMANDS: Record<string, (args: string[], env: NodeJS.ProcessEnv) => Promise<number>> = {
  serve: serveCommand,
  warm: warmCommand,
  pin: pinCommand,
  unpin: unpinCommand,
  pins: pinsCommand,
  gc: gcCommand,
  verify: verifyCommand,
  stats: statsCommand,
  ls: lsCommand,
};

/** Runs the CLI; returns the exit code (serve resolves only after a graceful shutdown). */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const run = COMMANDS[command];
  return guard(
    async () => {
      if (!run) throw new UsageError(command.startsWith('-') ? `Unknown option '${command}'` : `unknown command '${command}'`);
      return run(rest, env);
    },
    { details: wantsDetails(rest, env) },
  );
}
