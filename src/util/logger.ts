import { pino, type DestinationStream, type Logger } from 'pino';
import { PrettyStream } from './pretty-log.js';

/** Paths pino blanks out wherever they appear in a log line: credentials never reach the log. */
export const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  'headers.authorization',
  'token',
  '*.token',
];

export type LogFormat = 'json' | 'pretty';

/**
 * JSON lines with the level as its name (`"level":"info"`: what collectors and people
 * read without pino's number table), or `pretty`: the same entries as readable lines,
 * written to the same place.
 */
export function createLogger(level: string, destination?: DestinationStream, format: LogFormat = 'json'): Logger {
  const target = format === 'pretty' ? new PrettyStream(destination ?? process.stdout) : destination;
  return pino(
    {
      level,
      base: { service: 'cargohold' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    target,
  );
}
