import type { HistoryBucket } from './source.js';
import { formatBytes, formatTime } from './format.js';

const WIDTH = 720;
const HEIGHT = 180;
const PAD = { left: 40, right: 56, top: 10, bottom: 22 };

const SERIES = [
  { key: 'cache', label: 'pulls from cache', cls: 's-cache' },
  { key: 'upstream', label: 'pulls from upstream', cls: 's-upstream' },
  { key: 'stale', label: 'stale', cls: 's-stale' },
] as const;

/**
 * Pulls per bucket as stacked bars (from cache, from upstream, stale) and bytes saved as
 * a line on its own scale: server-side SVG, no chart library, nothing to fetch.
 */
export function TrafficChart(props: { buckets: HistoryBucket[]; unit: 'hour' | 'day' }) {
  const { buckets } = props;
  const values = buckets.map((b) => ({
    cache: b.totals.pullHits + b.totals.pullCoalesced,
    upstream: b.totals.pullMisses,
    stale: b.totals.pullStale,
    saved: b.totals.bytesFromCache,
  }));
  const maxPulls = Math.max(1, ...values.map((v) => v.cache + v.upstream + v.stale));
  const maxSaved = Math.max(1, ...values.map((v) => v.saved));
  const innerW = WIDTH - PAD.left - PAD.right;
  const innerH = HEIGHT - PAD.top - PAD.bottom;
  const slot = innerW / Math.max(1, buckets.length);
  const barW = Math.max(1, slot * 0.7);
  const y = (v: number) => PAD.top + innerH - (v / maxPulls) * innerH;
  const ySaved = (v: number) => PAD.top + innerH - (v / maxSaved) * innerH;
  const line = values.map((v, i) => `${(PAD.left + i * slot + slot / 2).toFixed(1)},${ySaved(v.saved).toFixed(1)}`).join(' ');
  const label = (start: number) => (props.unit === 'hour' ? formatTime(start).slice(11, 16) : formatTime(start).slice(5, 10));
  const every = Math.ceil(buckets.length / 8);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`pulls per ${props.unit}`} data-buckets={String(buckets.length)}>
        <line x1={PAD.left} y1={PAD.top + innerH} x2={WIDTH - PAD.right} y2={PAD.top + innerH} class="axis" />
        <text x={PAD.left - 4} y={PAD.top + 8} class="tick end">
          {String(maxPulls)}
        </text>
        <text x={PAD.left - 4} y={PAD.top + innerH} class="tick end">
          0
        </text>
        <text x={WIDTH - PAD.right + 4} y={PAD.top + 8} class="tick">
          {formatBytes(maxSaved)}
        </text>
        {values.map((v, i) => {
          let base = 0;
          const x = PAD.left + i * slot + (slot - barW) / 2;
          return (
            <g>
              <title>{`${formatTime(buckets[i]!.start)}: ${v.cache} from cache, ${v.upstream} from upstream, ${v.stale} stale; ${formatBytes(v.saved)} saved`}</title>
              {SERIES.map((s) => {
                const n = v[s.key];
                if (n === 0) return null;
                const top = y(base + n);
                const rect = <rect x={x.toFixed(1)} y={top.toFixed(1)} width={barW.toFixed(1)} height={(y(base) - top).toFixed(1)} class={s.cls} />;
                base += n;
                return rect;
              })}
              {i % every === 0 ? (
                <text x={(x + barW / 2).toFixed(1)} y={HEIGHT - 6} class="tick middle">
                  {label(buckets[i]!.start)}
                </text>
              ) : null}
            </g>
          );
        })}
        <polyline points={line} class="s-saved" />
      </svg>
      <figcaption>
        {SERIES.map((s) => (
          <span class={`key ${s.cls}`}>{s.label}</span>
        ))}
        <span class="key s-saved">bytes saved (right scale)</span>
      </figcaption>
    </figure>
  );
}
