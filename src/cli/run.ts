import { guard, UsageError, wantsDetails } from './common.js';
import { gcCommand, lsCommand, statsCommand, verifyCommand } from './maintenance.js';
import { pinsCommand, unpinCommand } from './pins.js';
import { reportCommand } from './report.js';
import { serveCommand } from './serve.js';
import { VERSION } from '../version.js';
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
  cargohold report [options]             pulls, bytes served and saved per image, principal or upstream
  cargohold COMMAND --help               one command's usage
  cargohold --help | --version           this help | the version

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
  report: reportCommand,
};

const STORE = '  --data-dir DIR, --config FILE, --log-level LEVEL (see cargohold --help)';

/** `cargohold COMMAND --help`: what the command does and the options it takes. */
const HELP: Record<string, string> = {
  serve: `Usage: cargohold serve [options]\n\nRun the mirror (the OCI pull API, the dashboard at /, /metrics, /healthz, /readyz).\n\nOptions:\n  --listen HOST:PORT   address to listen on (default 0.0.0.0:5000)\n  --upstream URL       the docker.io upstream\n  --offline            never contact the upstream; serve only what is cached\n  --log-format FORMAT  json | pretty\n  --no-create          refuse to start if the data dir does not exist\n${STORE}\n`,
  warm: `Usage: cargohold warm [options] <image>...\n\nFetch whole images into the cache ahead of time (bytes, rate and ETA while a layer downloads).\n\nOptions:\n  --platform OS/ARCH[/VARIANT]  a platform of a multi-arch image (repeatable; default: this host's)\n  --all-platforms               every platform\n  --dockerfile FILE             every parent image the Dockerfile's FROM lines name\n  --build-arg NAME=VALUE        a Dockerfile ARG's value (repeatable)\n  --from-file FILE              one image reference per line\n  --concurrency N               blobs fetched at once (default 4)\n  --refresh                     ask the upstream about tags now, even within their TTL\n${STORE}\n`,
  pin: `Usage: cargohold pin [options] <image>...\n\nWarm images and keep them: eviction and GC never remove a pinned image. Takes warm's options.\n`,
  unpin: `Usage: cargohold unpin [options] <image>...\n\nStop keeping images (they stay cached until evicted).\n${STORE}\n`,
  pins: `Usage: cargohold pins [options]\n\nList pinned images.\n${STORE}\n`,
  ls: `Usage: cargohold ls [options] [REPO]\n\nList cached images: tag, digest, bytes stored, last pulled.\n\nOptions:\n  --json               one JSON array\n${STORE}\n`,
  stats: `Usage: cargohold stats [options]\n\nWhat the cache holds: repositories, tags, blobs, bytes, largest images, hit ratio since the server started.\n\nOptions:\n  --json               one JSON object\n${STORE}\n`,
  gc: `Usage: cargohold gc [options]\n\nEvict by the cache policy, then collect garbage (unreferenced blobs, dead temp files, records of missing blobs).\n\nOptions:\n  --dry-run            report what would be freed, remove nothing\n  --json               one JSON object\n${STORE}\n`,
  verify: `Usage: cargohold verify [options]\n\nRe-hash every blob (progress and rate on stderr); exit 1 if one is missing or corrupt.\n\nOptions:\n  --repair             remove corrupt blobs and forget missing ones (the next pull fetches them)\n  --json               one JSON object\n${STORE}\n`,
  report: `Usage: cargohold report [options]\n\nPulls, pulls avoided (manifest GETs answered with no upstream GET), bytes served, fetched and saved.\n\nOptions:\n  --since WHEN         30d (default), 12h, 2w, or a date (2026-11-01)\n  --by WHAT            image (default) | principal | upstream\n  --json | --csv       one JSON object | CSV with a header line\n${STORE}\n`,
};

/** Runs the CLI; returns the exit code (serve resolves only after a graceful shutdown). */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(USAGE); // not asked for: usage goes where errors go
    return 2;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? rest[0] : undefined;
    process.stdout.write((topic && HELP[topic]) || USAGE);
    return 0;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`cargohold ${VERSION}\n`);
    return 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP[command] ?? USAGE);
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
