import { readLimited } from './read-limited.js';
import { UpstreamError } from '../errors/upstream-error.js';
import { MediaType } from '../oci/media-types.js';
import { parseReferrersIndex, type ReferrerDescriptor } from '../oci/referrers.js';
import type { UpstreamClient } from './client.js';
import { errorForUpstreamStatus, headerValue } from './errors.js';

/** Pages of one referrers list followed at most: a bound on what a broken upstream can make us do. */
const MAX_PAGES = 100;

/**
 * The referrers API of the upstream (distribution-spec 1.1), every page of it (`Link`).
 * Undefined when the first answer is a 404: a registry with the API never answers 404
 * there, so it has none (distribution 2.8), and the caller reads the referrers tag instead.
 */
export async function listReferrers(
  client: UpstreamClient,
  repository: string,
  digest: string,
  maxBytes: number,
): Promise<ReferrerDescriptor[] | undefined> {
  const descriptors: ReferrerDescriptor[] = [];
  const asked = new Set<string>();
  let subpath = `referrers/${digest}`;
  for (let page = 0; page < MAX_PAGES; page++) {
    const reply = await client.request('GET', repository, subpath, { accept: MediaType.OciIndex }, 'referrers');
    if (reply.status !== 200) {
      await reply.body.dump().catch(() => undefined);
      if (reply.status === 404 && page === 0) return undefined;
      if (reply.status === 404) throw invalid('upstream lost a page of its referrers list');
      throw errorForUpstreamStatus(reply.status, 'manifest', reply.headers);
    }
    const parsed = parseReferrersIndex(
      await readLimited(reply, maxBytes, () => invalid(`upstream referrers list exceeds ${maxBytes} bytes`), 'referrers body'),
    );
    if (!parsed) throw invalid('upstream sent a referrers list that is not an image index');
    descriptors.push(...parsed);
    const next = nextPage(client.url, headerValue(reply.headers.link), repository, digest);
    if (next === undefined || asked.has(next)) break;
    asked.add(next);
    subpath = next;
  }
  return descriptors;
}

/** The subpath of the next page from `Link`, only if it is this same list on the same upstream. */
function nextPage(upstream: URL, link: string | undefined, repository: string, digest: string): string | undefined {
  const target = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link ?? '')?.[1];
  if (target === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(target, upstream);
  } catch {
    return undefined;
  }
  const path = `${upstream.pathname.replace(/\/$/, '')}/v2/${repository}/referrers/${digest}`;
  if (url.origin !== upstream.origin || url.pathname !== path) return undefined;
  return `referrers/${digest}${url.search}`;
}

function invalid(message: string): UpstreamError {
  return new UpstreamError('UNAVAILABLE', message, 'invalid', { status: 502 });
}
