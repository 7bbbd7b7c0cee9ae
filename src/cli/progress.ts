import cliProgress from 'cli-progress';
import type { WarmEvent, WarmSummary } from '../warm/warmer.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** A line while a big layer downloads on a non-terminal, at most this often. */
const PLAIN_PROGRESS_EVERY_MS = 5000;

/**
 * Warm progress: a bar per image on a terminal (cli-progress: a maintained library,
 * so redraws and widths are not ours to get wrong) with bytes, rate and ETA that move
 * while a big layer downloads; plain lines otherwise (CI logs), with a progress line
 * every few seconds while bytes arrive.
 */
export class WarmProgress {
  readonly #tty: boolean;
  readonly #out: NodeJS.WriteStream;
  #bar: cliProgress.SingleBar | undefined;
  #image = { name: '', blobs: 0, done: 0, total: 0, bytes: 0, doneBytes: 0, started: 0 };
  #lastPlain = 0;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  onEvent = (event: WarmEvent): void => {
    if (event.kind === 'image') {
      this.#finishBar();
      const platforms = event.platforms.length > 0 ? ` (${event.platforms.join(', ')})` : '';
      this.#image = { name: event.image, blobs: event.blobs, done: 0, total: event.bytes, bytes: 0, doneBytes: 0, started: performance.now() };
      this.#lastPlain = performance.now();
      if (!this.#tty) {
        this.#out.write(`${event.image}${platforms}: ${event.digest}, ${event.blobs} blobs, ${formatBytes(event.bytes)}\n`);
        return;
      }
      this.#bar = new cliProgress.SingleBar(
        {
          format: `${event.image}${platforms} [{bar}] {blobsDone}/{blobs} blobs | {bytes} of {totalBytes} | {rate}/s | ETA {eta_formatted}`,
          stream: this.#out,
          hideCursor: true,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      this.#bar.start(Math.max(1, event.bytes), 0, this.#payload());
      return;
    }
    if (event.kind === 'progress') {
      this.#image.bytes = Math.max(this.#image.bytes, event.bytes);
      if (this.#bar) this.#bar.update(Math.min(this.#image.bytes, this.#image.total), this.#payload());
      else if (performance.now() - this.#lastPlain >= PLAIN_PROGRESS_EVERY_MS) {
        this.#lastPlain = performance.now();
        const { bytes, total } = this.#image;
        const percent = total > 0 ? ` (${Math.floor((bytes / total) * 100)}%)` : '';
        this.#out.write(`  ${formatBytes(bytes)} of ${formatBytes(total)}${percent} at ${formatBytes(this.#rate())}/s\n`);
      }
      return;
    }
    this.#image.done++;
    this.#image.doneBytes += event.size;
    this.#image.bytes = Math.max(this.#image.bytes, this.#image.doneBytes);
    if (this.#bar) this.#bar.update(Math.min(this.#image.bytes, this.#image.total), this.#payload());
    else this.#out.write(`  ${event.digest} ${formatBytes(event.size)} ${event.cached ? 'already cached' : 'fetched'}\n`);
  };

  #rate(): number {
    const seconds = (performance.now() - this.#image.started) / 1000;
    return seconds > 0 ? this.#image.bytes / seconds : 0;
  }

  #payload(): Record<string, string | number> {
    const { done, blobs, bytes, total } = this.#image;
    return { blobsDone: done, blobs, bytes: formatBytes(bytes), totalBytes: formatBytes(total), rate: formatBytes(this.#rate()) };
  }

  error(image: string, message: string): void {
    this.#finishBar();
    this.#out.write(`${image}: failed: ${message}\n`);
  }

  summary(summary: WarmSummary, failed: number): void {
    this.#finishBar();
    this.#out.write(
      `warmed ${summary.images} image(s): ${summary.manifests} manifest(s), ${summary.blobs} blob(s); ` +
        `fetched ${formatBytes(summary.bytesFetched)}, already cached ${formatBytes(summary.bytesCached)}` +
        (failed > 0 ? `; ${failed} failed` : '') +
        '\n',
    );
  }

  #finishBar(): void {
    this.#bar?.stop();
    this.#bar = undefined;
  }
}
