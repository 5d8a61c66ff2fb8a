import { escapeHtml } from '../pages.js';

/** The dashboard's pages, in navigation order. */
export const TABS = [
  { path: '/', label: 'Directory' },
  { path: '/dashboard/sessions', label: 'Sessions' },
  { path: '/dashboard/requests', label: 'Requests' },
  { path: '/dashboard/webhooks', label: 'Webhooks' },
  { path: '/dashboard/clock', label: 'Clock & faults' },
] as const;

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
--bg:#f4f4f6;--card:#fff;--fg:#1a1a1a;--muted:#5a5a66;--line:#dcdce3;--accent:#1a1a1a;--ok:#116b2f;--bad:#9b1c1c}
@media (prefers-color-scheme:dark){:root{--bg:#111114;--card:#1d1d21;--fg:#ececf1;--muted:#a4a4b0;
--line:#34343c;--accent:#ececf1;--ok:#6fd18f;--bad:#ff9b9b}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font-size:15px;line-height:1.45}
a{color:inherit}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:var(--card);padding:.4rem}
header{background:var(--card);border-bottom:1px solid var(--line);padding:.75rem 1.5rem;display:flex;
flex-wrap:wrap;align-items:center;gap:1rem 2rem}
header .brand{font-weight:700}
header .issuer{color:var(--muted);font-family:ui-monospace,monospace;font-size:.85rem}
nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:.25rem;margin:0;padding:0}
nav a{display:block;padding:.35rem .75rem;border-radius:6px;text-decoration:none}
nav a:hover{background:var(--bg)}
nav a[aria-current=page]{background:var(--accent);color:var(--card)}
main{max-width:78rem;margin:0 auto;padding:1.25rem 1.5rem 3rem}
h1{font-size:1.35rem;margin:.25rem 0 1rem}
h2{font-size:1.05rem;margin:1.75rem 0 .6rem}
h3{font-size:.95rem;margin:.9rem 0 .4rem}
section.card,div.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.25rem;
margin:0 0 1rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
pre{background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:.6rem .8rem;overflow:auto;margin:.4rem 0}
.muted{color:var(--muted)}
.row{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-end}
.row>div{display:flex;flex-direction:column;gap:.2rem}
label{font-weight:600;font-size:.85rem}
fieldset{border:1px solid var(--line);border-radius:8px;padding:.5rem .8rem;margin:.4rem 0}
legend{font-weight:600;font-size:.85rem;padding:0 .3rem}
fieldset label{font-weight:400;margin-right:1rem}
input,select,textarea{font:inherit;padding:.35rem .5rem;border:1px solid var(--line);border-radius:6px;
background:var(--card);color:var(--fg)}
textarea{width:100%;font-family:ui-monospace,monospace;font-size:.85rem}
button{font:inherit;cursor:pointer;padding:.35rem .8rem;border-radius:6px;border:1px solid var(--accent);
background:var(--accent);color:var(--card)}
button.secondary{background:transparent;color:var(--fg);border-color:var(--line)}
button.danger{background:transparent;color:var(--bad);border-color:var(--bad)}
:focus-visible{outline:3px solid #3b82f6;outline-offset:2px}
.notice{border:1px solid var(--ok);color:var(--ok);border-radius:8px;padding:.5rem .8rem;margin:0 0 1rem}
.error{border:1px solid var(--bad);color:var(--bad);border-radius:8px;padding:.5rem .8rem;margin:0 0 1rem}
.pill{display:inline-block;padding:0 .45rem;border-radius:999px;border:1px solid var(--line);font-size:.8rem}
.pill.ok{color:var(--ok);border-color:var(--ok)}.pill.bad{color:var(--bad);border-color:var(--bad)}
details summary{cursor:pointer;font-weight:600}
.card>form{margin-top:.75rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:1rem}
`;

/** A one-time message shown at the top of the next page. */
export interface Flash {
  kind: 'notice' | 'error';
  text: string;
}

/** Wraps a dashboard page: header with the issuer, navigation, flash message, then `body`. */
export function dashboardLayout(
  title: string,
  current: string,
  issuer: string,
  body: string,
  flash?: Flash,
  head = '',
): string {
  const nav = TABS.map(
    (t) =>
      `<li><a href="${t.path}"${t.path === current ? ' aria-current="page"' : ''}>${escapeHtml(t.label)}</a></li>`,
  ).join('');
  const message = flash
    ? `<p class="${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">${escapeHtml(flash.text)}</p>`
    : '';
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">${head}
<title>${escapeHtml(title)} · Kinde emulator</title><style>${STYLE}</style></head>
<body><a class="skip" href="#content">Skip to content</a>
<header><span class="brand">Kinde emulator</span><span class="issuer">${escapeHtml(issuer)}</span>
<nav aria-label="Dashboard"><ul>${nav}</ul></nav></header>
<main id="content"><h1>${escapeHtml(title)}</h1>${message}${body}
<p class="muted">A local identity provider for development and tests. Never use it in production.</p></main>
</body></html>`;
}

/** A POST form with the CSRF token; `inner` holds its fields and button. */
export function postForm(action: string, csrf: string, inner: string, label?: string): string {
  const aria = label ? ` aria-label="${escapeHtml(label)}"` : '';
  return `<form method="post" action="${escapeHtml(action)}"${aria}><input type="hidden" name="csrf" value="${escapeHtml(csrf)}">${inner}</form>`;
}

/** A single-button POST form. */
export function button(
  action: string,
  csrf: string,
  text: string,
  cls = 'secondary',
  label?: string,
): string {
  const aria = label ? ` aria-label="${escapeHtml(label)}"` : '';
  return postForm(action, csrf, `<button type="submit" class="${cls}"${aria}>${escapeHtml(text)}</button>`);
}

/** ISO time (seconds precision) of unix seconds. */
export function isoSeconds(unix: number): string {
  return new Date(unix * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
