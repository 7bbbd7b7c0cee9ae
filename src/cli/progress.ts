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

/**
 * Warm progress: a bar per image on a terminal (cli-progress: a maintained library,
 * so redraws and widths are not ours to get wrong), plain lines otherwise (CI logs).
 */
export class WarmProgress {
  readonly #tty: boolean;
  readonly #out: NodeJS.WriteStream;
  #bar: cliProgress.SingleBar | undefined;
  #bytes = 0;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  onEvent = (event: WarmEvent): void => {
    if (event.kind === 'image') {
      this.#finishBar();
      const platforms = event.platforms.length > 0 ? ` (${event.platforms.join(', ')})` : '';
      if (!this.#tty) {
        this.#out.write(`${event.image}${platforms}: ${event.digest}, ${event.blobs} blobs\n`);
        return;
      }
      this.#bytes = 0;
      this.#bar = new cliProgress.SingleBar(
        { format: `${event.image}${platforms} [{bar}] {value}/{total} blobs | {bytes}`, stream: this.#out, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      this.#bar.start(event.blobs, 0, { bytes: formatBytes(0) });
      return;
    }
    this.#bytes += event.size;
    if (this.#bar) this.#bar.increment(1, { bytes: formatBytes(this.#bytes) });
    else this.#out.write(`  ${event.digest} ${formatBytes(event.size)} ${event.cached ? 'already cached' : 'fetched'}\n`);
  };

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
