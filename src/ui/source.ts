import { parseManifest, type ManifestReference } from '../oci/manifest.js';
import { INDEX_MEDIA_TYPES } from '../oci/media-types.js';
import { parseReference } from '../oci/reference.js';
import { parseDigest } from '../oci/digest.js';
import type { ImageEntry, Inventory } from '../ports/metadata-repo.js';
import { DAY_MS, HOUR_MS, hitRatio, pullsAvoided, zeroCounts, type TrafficGroup, type TrafficTotal } from '../ports/traffic.js';
import type { FillProgress } from '../core/blob-cache.js';
import type { MaintenanceRun, RecentRequest } from '../observability/recent.js';
import type { UpstreamHealthState } from '../observability/upstream-health.js';
import type { RateLimitSnapshot } from '../upstream/rate-limit.js';
import type { Services } from '../services.js';
import { formatPlatform } from '../warm/image-ref.js';

/** The traffic of one period, with what the page derives from it. */
export interface PeriodSummary {
  label: string;
  totals: TrafficTotal;
  hitRatio: number | undefined;
  pullsAvoided: number;
}

export interface UpstreamSummary {
  name: string;
  health: UpstreamHealthState;
  /** undefined for an upstream no longer configured. */
  rateLimit: RateLimitSnapshot | undefined;
  /** Over the last 30 days. */
  bytesFetched: number;
  bytesFromCache: number;
  pullsAvoided: number;
  staleServes: number;
}

export interface Overview {
  inventory: Inventory;
  maxSizeBytes: number | undefined;
  pins: number;
  periods: PeriodSummary[];
  upstreams: UpstreamSummary[];
  startedAt: number;
}

export interface ImageRow extends ImageEntry {
  platforms: string[];
  pinned: boolean;
  /** Manifest GETs of the repository over the last 30 days. */
  pulls: number;
}

export interface ImageDetail {
  repository: string;
  tag: string;
  digest: string;
  mediaType: string;
  pinned: boolean;
  /** One entry for an image; one per platform for an index. */
  manifests: Array<{ digest: string; platform: string | undefined; layers: Array<ManifestReference & { stored: boolean }> }>;
}

export interface NowState {
  fills: Array<FillProgress & { bytesPerSecond: number }>;
  requests: RecentRequest[];
  maintenance: MaintenanceRun[];
}

export interface HistoryBucket {
  start: number;
  totals: TrafficTotal;
}

/** Image configs are small JSON documents; anything bigger is not read for the page. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * What the dashboard shows, read from the service graph: the store's inventory and images,
 * the traffic history, upstream health and quotas, fills in progress. Every method reads
 * local state only; `refresh` is the one that asks the upstream (an operator's button).
 */
export class DashboardSource {
  readonly #services: Services;
  readonly #maxSizeBytes: number | undefined;
  readonly #now: () => number;
  /** Platforms per manifest digest: manifests never change, so they are parsed once. */
  readonly #platforms = new Map<string, string[]>();

  constructor(services: Services, maxSizeBytes: number | undefined, now: () => number = Date.now) {
    this.#services = services;
    this.#maxSizeBytes = maxSizeBytes;
    this.#now = now;
  }

  async overview(): Promise<Overview> {
    const { metadata, activity, config } = this.#deps();
    const now = this.#now();
    const startOfDay = now - (now % DAY_MS);
    const periods: Array<[string, number]> = [
      ['today', startOfDay],
      ['7 days', now - 7 * DAY_MS],
      ['30 days', now - 30 * DAY_MS],
    ];
    const [inventory, pins, ...totals] = await Promise.all([
      metadata.inventory(),
      metadata.listPins(),
      ...periods.map(([, since]) => this.totals(since, 'total')),
    ]);
    const byUpstream = await this.totals(now - 30 * DAY_MS, 'upstream');
    // Every configured upstream, then any the history names that is configured no more.
    const configured = [...this.#services.upstreams.keys()];
    const names = [...configured, ...byUpstream.map((t) => t.key).filter((k) => !configured.includes(k))];
    const health = activity.upstreams.snapshot(names);
    const upstreams = names.map((name) => {
      const t = byUpstream.find((u) => u.key === name);
      return {
        name,
        health: health.find((h) => h.upstream === name) as UpstreamHealthState,
        rateLimit: this.#services.upstreams.get(name)?.rateLimit.snapshot(),
        bytesFetched: t?.bytesFromUpstream ?? 0,
        bytesFromCache: t?.bytesFromCache ?? 0,
        pullsAvoided: t ? pullsAvoided(t) : 0,
        staleServes: t?.stale ?? 0,
      };
    });
    return {
      inventory,
      maxSizeBytes: config.maxSizeBytes,
      pins: pins.length,
      periods: periods.map(([label], i) => summary(label, (totals[i] as TrafficTotal[])[0] as TrafficTotal)),
      upstreams,
      startedAt: this.#services.startedAt,
    };
  }

  /** Per hour over the last `hours`, or per day over the last `days`; empty buckets included. */
  async history(range: { hours: number } | { days: number }): Promise<HistoryBucket[]> {
    const now = this.#now();
    const step = 'hours' in range ? HOUR_MS : DAY_MS;
    const count = 'hours' in range ? range.hours : range.days;
    const last = now - (now % step);
    const first = last - (count - 1) * step;
    const rows = await this.totals(first, 'hours' in range ? 'hour' : 'day');
    const byStart = new Map(rows.map((r) => [Number(r.key), r]));
    const buckets: HistoryBucket[] = [];
    for (let start = first; start <= last; start += step) {
      buckets.push({ start, totals: byStart.get(start) ?? { key: String(start), ...zeroCounts() } });
    }
    return buckets;
  }

  totals(since: number, by: TrafficGroup): Promise<TrafficTotal[]> {
    return this.#services.activity.traffic.trafficTotals({ since, by });
  }

  async images(): Promise<ImageRow[]> {
    const { metadata } = this.#deps();
    await metadata.flushAccessTimes();
    const [images, pins, pulls] = await Promise.all([
      metadata.listImages(),
      metadata.listPins(),
      this.totals(this.#now() - 30 * DAY_MS, 'repository'),
    ]);
    const pinned = new Set(pins.map((p) => `${p.repository}\n${p.reference}`));
    const pullsOf = new Map(pulls.map((t) => [t.key, t.pullHits + t.pullMisses + t.pullStale + t.pullCoalesced]));
    return Promise.all(
      images.map(async (image) => ({
        ...image,
        platforms: await this.#platformsOf(image.digest),
        pinned: pinned.has(`${image.repository}\n${image.tag}`) || pinned.has(`${image.repository}\n${image.digest}`),
        pulls: pullsOf.get(image.repository) ?? 0,
      })),
    );
  }

  async image(repository: string, tag: string): Promise<ImageDetail | undefined> {
    const { metadata } = this.#deps();
    const cached = await metadata.findTag(repository, tag);
    if (!cached) return undefined;
    const top = cached.manifest;
    const pins = await metadata.listPins();
    const pinned = pins.some((p) => p.repository === repository && (p.reference === tag || p.reference === top.digest));
    const parsed = parseManifest(top.content, top.mediaType);
    const children = INDEX_MEDIA_TYPES.includes(parsed.mediaType)
      ? parsed.references.filter((r) => r.kind === 'manifest')
      : [{ digest: top.digest, kind: 'manifest' as const, platform: undefined }];
    const manifests = await Promise.all(
      children.map(async (child) => {
        const found = child.digest === top.digest ? { manifest: top } : await metadata.findManifest(repository, child.digest);
        const refs = found ? parseManifest(found.manifest.content, found.manifest.mediaType).references.filter((r) => r.kind !== 'subject') : [];
        const layers = await Promise.all(refs.map(async (r) => ({ ...r, stored: (await metadata.findBlob(repository, r.digest)) !== undefined })));
        return { digest: child.digest, platform: child.platform ? formatPlatform(child.platform) : undefined, layers };
      }),
    );
    return { repository, tag, digest: top.digest, mediaType: top.mediaType, pinned, manifests };
  }

  now(): NowState {
    const now = this.#now();
    const fills = this.#services.registry.blobs.fillsInProgress().map((f) => ({
      ...f,
      bytesPerSecond: f.received / Math.max(0.001, (now - f.startedAt) / 1000),
    }));
    return { fills, requests: this.#services.activity.requests.list(), maintenance: this.#services.activity.maintenance.list() };
  }

  async pin(repository: string, reference: string, on: boolean): Promise<boolean> {
    parseReference(reference); // a tag or a digest, as `cargohold pin` takes
    return on ? this.#services.metadata.pin(repository, reference) : this.#services.metadata.unpin(repository, reference);
  }

  /** Asks the upstream about the tag now (within its TTL too), as `warm --refresh` does: the digest it points at. */
  async refresh(repository: string, tag: string): Promise<string> {
    const result = await this.#services.registry.manifests.get(repository, { kind: 'tag', tag }, { revalidate: true });
    return result.digest;
  }

  /** An index's platforms; an image's own, from its config blob when it is stored here. */
  async #platformsOf(digest: string): Promise<string[]> {
    const known = this.#platforms.get(digest);
    if (known) return known;
    const found = await this.#services.metadata.findManifest('', digest);
    let platforms: string[] = [];
    if (found) {
      try {
        const parsed = parseManifest(found.manifest.content, found.manifest.mediaType);
        if (INDEX_MEDIA_TYPES.includes(parsed.mediaType)) {
          platforms = parsed.references.filter((r) => r.kind === 'manifest' && r.platform).map((r) => formatPlatform(r.platform!));
        } else {
          const config = parsed.references.find((r) => r.kind === 'config');
          const platform = config ? await this.#configPlatform(config.digest) : undefined;
          if (platform === undefined) return []; // not stored (yet): ask again next time
          platforms = [platform];
        }
      } catch {
        platforms = [];
      }
    }
    this.#platforms.set(digest, platforms);
    return platforms;
  }

  /** os/architecture[/variant] of an image config blob stored here; undefined if it is not, or is not one. */
  async #configPlatform(digest: string): Promise<string | undefined> {
    const blob = await this.#services.store.open(parseDigest(digest)).catch(() => undefined);
    if (!blob) return undefined;
    if (blob.size === 0 || blob.size > MAX_CONFIG_BYTES) {
      await blob.close();
      return undefined;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of blob.body(0, blob.size - 1).stream()) chunks.push(chunk as Buffer);
    try {
      const config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { os?: unknown; architecture?: unknown; variant?: unknown };
      if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return undefined;
      return formatPlatform({
        os: config.os,
        architecture: config.architecture,
        ...(typeof config.variant === 'string' ? { variant: config.variant } : {}),
      });
    } catch {
      return undefined;
    }
  }

  #deps() {
    return {
      metadata: this.#services.metadata,
      activity: this.#services.activity,
      config: { maxSizeBytes: this.#maxSizeBytes },
    };
  }
}

function summary(label: string, totals: TrafficTotal): PeriodSummary {
  return { label, totals, hitRatio: hitRatio(totals), pullsAvoided: pullsAvoided(totals) };
}
