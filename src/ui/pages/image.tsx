import { Card, Layout, type PageContext } from '../layout.js';
import { formatBytes } from '../format.js';
import type { ImageDetail } from '../source.js';
import { ImageActions } from './images.js';

export function ImagePage(props: { ctx: PageContext; image: ImageDetail }) {
  const { ctx, image } = props;
  return (
    <Layout title={`${image.repository}:${image.tag}`} path="/ui/images" ctx={ctx}>
      <p>
        <span class="mono">{image.digest}</span> · {image.mediaType} · pinned: <span class="pinned">{image.pinned ? 'yes' : 'no'}</span>
      </p>
      {ctx.role === 'admin' ? <ImageActions repository={image.repository} tag={image.tag} pinned={image.pinned} /> : null}
      {image.manifests.map((m) => (
        <Card title={m.platform ? `${m.platform}` : 'manifest'}>
          <p class="mono">{m.digest}</p>
          <table class="layers">
            <thead>
              <tr>
                <th>kind</th>
                <th>digest</th>
                <th>size</th>
                <th>here</th>
              </tr>
            </thead>
            <tbody>
              {m.layers.map((l) => (
                <tr>
                  <td>{l.kind}</td>
                  <td class="mono">{l.digest}</td>
                  <td>{l.size === undefined ? '?' : formatBytes(l.size)}</td>
                  <td>{l.stored ? 'stored' : 'not stored (fetched on the next pull)'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {m.layers.length === 0 ? <p class="muted">this platform's manifest has not been pulled through the mirror</p> : null}
        </Card>
      ))}
    </Layout>
  );
}
