import type { Child } from 'hono/jsx';

export type Role = 'view' | 'admin';

export interface PageContext {
  /** The page's role: admin sees the buttons that change state. */
  role: Role;
  /** Who is looking ('' for anonymous). */
  principal: string;
  now: number;
  version: string;
}

const NAV: Array<[string, string]> = [
  ['/', 'Overview'],
  ['/ui/images', 'Images'],
  ['/ui/now', 'Now'],
  ['/ui/report', 'Report'],
];

/** The page frame: every asset from cargohold itself (no CDN), scripts and styles only from files (CSP forbids inline). */
export function Layout(props: { title: string; path: string; ctx: PageContext; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · cargohold`}</title>
        <link rel="stylesheet" href="/ui/assets/style.css" />
        <link rel="icon" href="/ui/assets/icon.svg" type="image/svg+xml" />
        <script src="/ui/assets/app.js" defer></script>
      </head>
      <body>
        <header>
          <a class="brand" href="/">
            cargohold
          </a>
          <nav>
            {NAV.map(([href, label]) => (
              <a href={href} class={props.path === href ? 'active' : undefined}>
                {label}
              </a>
            ))}
          </nav>
          <span class="who">{props.ctx.principal ? `${props.ctx.principal} (${props.ctx.role})` : `anonymous (${props.ctx.role})`}</span>
        </header>
        <main>
          <h1>{props.title}</h1>
          {props.children}
        </main>
        <footer>
          cargohold {props.ctx.version} · <span id="status" role="status"></span>
        </footer>
      </body>
    </html>
  );
}

export function Card(props: { title: string; children: Child; id?: string }) {
  return (
    <section class="card" id={props.id}>
      <h2>{props.title}</h2>
      {props.children}
    </section>
  );
}
