import { http } from './http.js';
import { waitFor } from './wait.js';

/** One scrape of /metrics, parsed from the text exposition format. */
export class Scrape {
  readonly #samples = new Map<string, number>();
  readonly text: string;

  constructor(text: string) {
    this.text = text;
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a sample line: ${line}`);
      const labels: Record<string, string> = {};
      for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1] as string] = pair[2] as string;
      this.#samples.set(Scrape.key(match[1] as string, labels), Number(match[3]));
    }
  }

  static key(name: string, labels: Record<string, string>): string {
    const sorted = Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k]}`);
    return `${name}{${sorted.join(',')}}`;
  }

  /** The sample's value; undefined when the exposition has no such sample. */
  get(name: string, labels: Record<string, string> = {}): number | undefined {
    return this.#samples.get(Scrape.key(name, labels));
  }

  /** A counter's value, 0 before its first increment (it is not exposed until then). */
  count(name: string, labels: Record<string, string> = {}): number {
    return this.get(name, labels) ?? 0;
  }

  /** Every sample of a metric, as "labels → value", for exact comparisons. */
  all(name: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, value] of this.#samples) if (key.startsWith(`${name}{`)) out[key.slice(name.length)] = value;
    return out;
  }
}

export async function scrape(base: string): Promise<Scrape> {
  const res = await http(base, '/metrics');
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.body.toString()}`);
  return new Scrape(res.body.toString());
}

/**
 * Scrapes until the condition holds (a response is counted once it has ended, which can
 * be a moment after the client has it), then returns that scrape for exact assertions.
 */
export async function scrapeWhen(base: string, condition: (s: Scrape) => boolean, what = 'the metrics'): Promise<Scrape> {
  let last: Scrape | undefined;
  await waitFor(
    async () => {
      last = await scrape(base);
      return condition(last);
    },
    10_000,
    what,
  );
  return last as Scrape;
}
