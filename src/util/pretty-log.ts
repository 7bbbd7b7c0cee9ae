import type { DestinationStream } from 'pino';

/** Keys every line has, shown in the fixed part of the line rather than as key=value. */
const FIXED = new Set(['time', 'level', 'msg', 'service']);

const COLOURS: Record<string, string> = {
  trace: '\x1b[90m',
  debug: '\x1b[36m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
  fatal: '\x1b[41m',
};

/**
 * pino's JSON lines as one readable line each (`time LEVEL msg key=value ...`), an error's
 * stack indented below it. Built in rather than pino-pretty: a few lines, no dependency
 * and no transport worker thread, so a line is written before the process can exit.
 */
export class PrettyStream implements DestinationStream {
  readonly #out: { write(text: string): unknown };
  readonly #colour: boolean;

  constructor(out: { write(text: string): unknown; isTTY?: boolean }) {
    this.#out = out;
    this.#colour = out.isTTY === true && process.env.NO_COLOR === undefined;
  }

  write(line: string): void {
    this.#out.write(formatPretty(line, this.#colour));
  }
}

export function formatPretty(line: string, colour = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = text(entry.level);
  const label = level.toUpperCase().padEnd(5);
  const shown = colour && COLOURS[level] ? `${COLOURS[level]}${label}\x1b[0m` : label;
  const fields: string[] = [];
  const stacks: string[] = [];
  for (const [key, value] of Object.entries(entry)) {
    if (FIXED.has(key) || value === undefined) continue;
    if (isError(value)) {
      fields.push(`${key}=${quote(value.message)}`);
      stacks.push(value.stack.replace(/^/gm, '    '));
      continue;
    }
    fields.push(`${key}=${typeof value === 'string' ? quote(value) : JSON.stringify(value)}`);
  }
  const head = [text(entry.time), shown, text(entry.msg), ...fields].filter((part) => part !== '').join(' ');
  return `${[head, ...stacks].join('\n')}\n`;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
}

function isError(value: unknown): value is { message: string; stack: string } {
  return typeof value === 'object' && value !== null && typeof (value as { stack?: unknown }).stack === 'string';
}

/** Bare when it reads unambiguously, else JSON-quoted. */
function quote(text: string): string {
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}
