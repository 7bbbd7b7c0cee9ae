/**
 * The dashboard's static files, served by cargohold itself: no build step, no CDN. The
 * script only swaps in server-rendered fragments and turns buttons into JSON POSTs.
 */
export const APP_JS = `// cargohold dashboard: live fragments and JSON POST buttons; no framework.
(() => {
  const status = (text) => {
    const el = document.getElementById('status');
    if (el) el.textContent = text;
  };
  const kept = sessionStorage.getItem('cargohold-status');
  if (kept) {
    status(kept);
    sessionStorage.removeItem('cargohold-status');
  }
  for (const el of document.querySelectorAll('[data-live]')) {
    const every = Number(el.dataset.every || 2000);
    let busy = false;
    setInterval(async () => {
      if (busy || document.hidden) return;
      busy = true;
      try {
        const res = await fetch(el.dataset.live, { headers: { accept: 'text/html' } });
        if (res.ok) el.innerHTML = await res.text();
      } catch {
        // the next tick tries again
      } finally {
        busy = false;
      }
    }, every);
  }
  document.addEventListener('click', async (event) => {
    const button = event.target instanceof Element ? event.target.closest('button[data-post]') : null;
    if (!button) return;
    button.disabled = true;
    try {
      const res = await fetch(button.dataset.post, { method: 'POST', headers: { 'content-type': 'application/json' }, body: button.dataset.body });
      const reply = await res.json().catch(() => ({}));
      if (res.ok) {
        sessionStorage.setItem('cargohold-status', reply.message || 'done');
        location.reload();
      } else {
        status('failed: ' + (reply.error || res.status));
      }
    } catch (err) {
      status('failed: ' + err);
    } finally {
      button.disabled = false;
    }
  });
})();
`;

export const STYLE_CSS = `:root { color-scheme: light dark; --fg: #1d2330; --muted: #6b7280; --bg: #f6f7f9; --card: #fff; --line: #e3e6ea;
  --cache: #2f9e6b; --upstream: #d9822b; --stale: #c2410c; --saved: #2563eb; --accent: #0f5fa8; }
@media (prefers-color-scheme: dark) { :root { --fg: #e5e7eb; --muted: #9ca3af; --bg: #111418; --card: #1a1f26; --line: #2b323c; --accent: #60a5fa; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: center; padding: 0.6rem 1.5rem; background: var(--card); border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header nav { display: flex; gap: 1rem; flex: 1; }
header .who { color: var(--muted); }
a { color: var(--accent); }
a.active { font-weight: 600; text-decoration: none; color: var(--fg); }
main { padding: 1rem 1.5rem; max-width: 1200px; }
h1 { font-size: 1.4rem; margin: 0.2rem 0 1rem; }
h2 { font-size: 1rem; margin: 0 0 0.6rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 1rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 0.9rem 1rem; margin-bottom: 1rem; overflow-x: auto; }
.big { font-size: 1.5rem; margin: 0 0 0.4rem; }
.muted { color: var(--muted); font-size: 0.9em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0.4rem 0; }
dt { color: var(--muted); }
dd { margin: 0; }
meter, progress { width: 100%; height: 0.8rem; }
td progress { width: 8rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; white-space: nowrap; }
tr.total td { font-weight: 600; }
.mono { font-family: ui-monospace, monospace; font-size: 0.9em; word-break: break-all; }
.search { display: flex; gap: 0.5rem; align-items: center; margin-bottom: 1rem; flex-wrap: wrap; }
.search input[type=search] { min-width: 18rem; padding: 0.3rem; }
button { cursor: pointer; }
footer { padding: 1rem 1.5rem; color: var(--muted); }
.chart svg { width: 100%; height: auto; max-height: 260px; }
.chart .axis { stroke: var(--line); }
.chart .tick { fill: var(--muted); font-size: 10px; }
.chart .tick.end { text-anchor: end; }
.chart .tick.middle { text-anchor: middle; }
.s-cache { fill: var(--cache); } .s-upstream { fill: var(--upstream); } .s-stale { fill: var(--stale); }
polyline.s-saved { fill: none; stroke: var(--saved); stroke-width: 2; }
figcaption { display: flex; gap: 1rem; flex-wrap: wrap; color: var(--muted); }
.key::before { content: ''; display: inline-block; width: 0.8rem; height: 0.8rem; margin-right: 0.3rem; vertical-align: -1px; border-radius: 2px; }
.key.s-cache::before { background: var(--cache); } .key.s-upstream::before { background: var(--upstream); }
.key.s-stale::before { background: var(--stale); } .key.s-saved::before { background: var(--saved); }
`;

export const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="4" width="14" height="10" rx="1" fill="#0f5fa8"/><rect x="3" y="2" width="10" height="3" fill="#2f9e6b"/></svg>`;
