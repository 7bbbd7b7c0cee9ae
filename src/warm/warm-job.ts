import type { Services } from '../services.js';
import { parseImageRef, type Platform } from './image-ref.js';
import { emptySummary, warmImage, type WarmEvent, type WarmSummary } from './warmer.js';

/** What `warm` and `pin` ask for: images as users write them, the platforms of each. */
export interface WarmRequest {
  targets: Array<{ image: string; platforms: Platform[] | 'all' }>;
  concurrency: number;
  pin: boolean;
  /** Revalidate tags with the upstream now. */
  refresh?: boolean;
}

/** Everything a warm job reports, in order: what the CLI prints (locally or streamed from the server's admin API). */
export type WarmJobEvent =
  | WarmEvent
  | { kind: 'failed'; image: string; message: string }
  | { kind: 'pinned'; images: string[] }
  | { kind: 'summary'; summary: WarmSummary; failed: number };

/** Warms (and pins) each target in turn; a target that fails is reported and the rest go on. */
export async function runWarmJob(services: Services, request: WarmRequest, emit: (event: WarmJobEvent) => void): Promise<void> {
  const summary = emptySummary();
  let failed = 0;
  const pinned: string[] = [];
  for (const target of request.targets) {
    let display = target.image;
    try {
      const ref = parseImageRef(target.image);
      display = ref.display;
      // Only a configured upstream, and a repository its allow/deny rules let through.
      services.namespaces.qualify(ref.host, ref.remote);
      await warmImage(
        services,
        ref,
        { platforms: target.platforms, concurrency: request.concurrency, refresh: request.refresh === true, onEvent: emit },
        summary,
      );
      if (request.pin) {
        await services.metadata.pin(ref.repository, ref.referenceText);
        pinned.push(ref.display);
      }
    } catch (err) {
      failed++;
      emit({ kind: 'failed', image: display, message: (err as Error).message });
    }
  }
  if (request.pin && failed === 0) emit({ kind: 'pinned', images: pinned });
  emit({ kind: 'summary', summary, failed });
}
