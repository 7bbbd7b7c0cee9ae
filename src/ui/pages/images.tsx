import { Layout, type PageContext } from '../layout.js';
import { formatAgo, formatBytes, shortDigest } from '../format.js';
import type { ImageRow } from '../source.js';

export const IMAGE_SORTS = ['repository', 'size', 'pulled', 'pulls'] as const;
export type ImageSort = (typeof IMAGE_SORTS)[number];

export interface ImageQuery {
  q: string;
  sort: ImageSort;
  desc: boolean;
}

export function filterAndSort(rows: ImageRow[], query: ImageQuery): ImageRow[] {
  const q = query.q.toLowerCase();
  const kept = q ? rows.filter((r) => `${r.repository}:${r.tag}`.toLowerCase().includes(q)) : [...rows];
  const key: Record<ImageSort, (r: ImageRow) => number | string> = {
    repository: (r) => `${r.repository}:${r.tag}`,
    size: (r) => r.storedBytes,
    pulled: (r) => r.lastAccessAt,
    pulls: (r) => r.pulls,
  };
  const k = key[query.sort];
  kept.sort((a, b) => {
    const x = k(a);
    const y = k(b);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return (query.desc ? -order : order) || (`${a.repository}:${a.tag}` < `${b.repository}:${b.tag}` ? -1 : 1);
  });
  return kept;
}

function SortLink(props: { query: ImageQuery; sort: ImageSort; label: string }) {
  const desc = props.query.sort === props.sort ? !props.query.desc : props.sort !== 'repository';
  const params = new URLSearchParams({ q: props.query.q, sort: props.sort, dir: desc ? 'desc' : 'asc' });
  const mark = props.query.sort === props.sort ? (props.query.desc ? ' ▼' : ' ▲') : '';
  return <a href={`/ui/images?${params.toString()}`}>{`${props.label}${mark}`}</a>;
}

export function ImagesPage(props: { ctx: PageContext; rows: ImageRow[]; total: number; query: ImageQuery }) {
  const { ctx, rows, query } = props;
  return (
    <Layout title="Images" path="/ui/images" ctx={ctx}>
      <form method="get" action="/ui/images" class="search">
        <input type="search" name="q" value={query.q} placeholder="search repositories and tags" aria-label="search" />
        <input type="hidden" name="sort" value={query.sort} />
        <input type="hidden" name="dir" value={query.desc ? 'desc' : 'asc'} />
        <button type="submit">Search</button>
        <span class="muted">
          {rows.length} of {props.total} images
        </span>
      </form>
      <table id="images">
        <thead>
          <tr>
            <th>
              <SortLink query={query} sort="repository" label="image" />
            </th>
            <th>digest</th>
            <th>platforms</th>
            <th>
              <SortLink query={query} sort="size" label="size here" />
            </th>
            <th>
              <SortLink query={query} sort="pulled" label="last pulled" />
            </th>
            <th>
              <SortLink query={query} sort="pulls" label="pulls (30 d)" />
            </th>
            <th>pinned</th>
            {ctx.role === 'admin' ? <th>actions</th> : null}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr data-image={`${r.repository}:${r.tag}`}>
              <td>
                <a href={`/ui/image?${new URLSearchParams({ repository: r.repository, tag: r.tag }).toString()}`}>{`${r.repository}:${r.tag}`}</a>
              </td>
              <td class="mono">{shortDigest(r.digest)}</td>
              <td class="platforms">{r.platforms.length > 0 ? r.platforms.join(', ') : '?'}</td>
              <td data-bytes={String(r.storedBytes)}>{formatBytes(r.storedBytes)}</td>
              <td>{formatAgo(r.lastAccessAt, ctx.now)}</td>
              <td>{r.pulls}</td>
              <td class="pinned">{r.pinned ? 'yes' : 'no'}</td>
              {ctx.role === 'admin' ? (
                <td>
                  <ImageActions repository={r.repository} tag={r.tag} pinned={r.pinned} />
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}

/** Buttons the page script turns into JSON POSTs (a cross-site form cannot send one). */
export function ImageActions(props: { repository: string; tag: string; pinned: boolean }) {
  const body = JSON.stringify({ repository: props.repository, reference: props.tag });
  return (
    <span class="actions">
      <button type="button" data-post={props.pinned ? '/ui/api/unpin' : '/ui/api/pin'} data-body={body}>
        {props.pinned ? 'Unpin' : 'Pin'}
      </button>{' '}
      <button type="button" data-post="/ui/api/refresh" data-body={body}>
        Refresh now
      </button>
    </span>
  );
}
