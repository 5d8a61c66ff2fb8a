import type { FastifyReply } from 'fastify';
import { fullName } from './directory.js';
import type { Organization, User } from './types.js';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{margin:0;background:#f4f4f6;color:#1a1a1a;display:flex;justify-content:center}
main{background:#fff;margin:3rem 1rem;padding:2rem;border-radius:12px;max-width:26rem;width:100%;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin:0 0 .25rem}
p.note{color:#555;font-size:.85rem;margin:0 0 1.5rem}
ul.choices{list-style:none;padding:0;margin:0 0 1.5rem}
ul.choices li{margin:0 0 .5rem}
button{font:inherit;cursor:pointer;border-radius:8px}
ul.choices button{width:100%;text-align:left;padding:.75rem 1rem;background:#fff;border:1px solid #c8c8d0}
ul.choices button:hover,ul.choices button:focus-visible{border-color:#1a1a1a;outline:2px solid #1a1a1a}
.name{display:block;font-weight:600}.detail{display:block;color:#555;font-size:.9rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{font:inherit;width:100%;box-sizing:border-box;padding:.6rem;border:1px solid #c8c8d0;border-radius:8px}
.primary{margin-top:1rem;width:100%;padding:.7rem;background:#1a1a1a;color:#fff;border:0}
.error{background:#fdecec;border:1px solid #e3a1a1;color:#7a1010;padding:.75rem;border-radius:8px}
h2{font-size:1rem;margin:1.5rem 0 .5rem}
.footer{margin:2rem 0 0}
@media (prefers-color-scheme:dark){body{background:#111;color:#eee}main{background:#1d1d20}
ul.choices button{background:#1d1d20;color:#eee}p.note,.detail{color:#aaa}}
`;

/** Wraps content in a complete, self-contained HTML document. */
export function layout(title: string, body: string, lang = 'en'): string {
  return `<!doctype html>
<html lang="${escapeHtml(lang)}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)} · Kinde emulator</title><style>${STYLE}</style></head>
<body><main>${body}
<p class="note footer">Kinde emulator: a local identity provider for development and tests. Never use it in production.</p>
</main></body></html>`;
}

/** Sends an HTML page with headers that keep it self-contained and unframeable. */
export function sendPage(reply: FastifyReply, status: number, html: string): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-frame-options', 'DENY')
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    )
    .send(html);
}

/** The error page for browser endpoints. */
export function errorPage(title: string, message: string): string {
  return layout(
    title,
    `<h1>${escapeHtml(title)}</h1><p class="error" role="alert">${escapeHtml(message)}</p>`,
  );
}

/** What the login and sign-up page needs. */
export interface LoginPageModel {
  txn: string;
  appName: string;
  users: User[];
  mode: 'login' | 'register';
  error?: string;
  email?: string;
  lang?: string;
  /** With `supports_reauth=true`: lets an expired sign-in restart (`error=login_link_expired`). */
  resume?: string;
  /** The `connection_id` the app asked for. */
  connection?: string;
}

function userButton(u: User): string {
  return `<li><button type="submit" name="user_id" value="${escapeHtml(u.id)}">
<span class="name">${escapeHtml(fullName(u))}</span><span class="detail">${escapeHtml(u.email)}</span></button></li>`;
}

/** The login page: a picker of configured users and a free email field (sign-up variant too). */
export function loginPage(m: LoginPageModel): string {
  const register = m.mode === 'register';
  const title = register ? 'Create account' : 'Sign in';
  const resume = m.resume ? `<input type="hidden" name="resume" value="${escapeHtml(m.resume)}">` : '';
  const txn = `<input type="hidden" name="txn" value="${escapeHtml(m.txn)}">${resume}`;
  const connection = m.connection
    ? `<p class="note" data-connection="${escapeHtml(m.connection)}">Connection: ${escapeHtml(m.connection)}</p>`
    : '';
  const error = m.error ? `<p class="error" role="alert">${escapeHtml(m.error)}</p>` : '';
  const picker =
    m.users.length === 0
      ? ''
      : `<h2 id="pick">${register ? 'Or continue as an existing user' : 'Choose a user'}</h2>
<form method="post" action="/oauth2/auth/login" aria-labelledby="pick">${txn}
<ul class="choices">${m.users.map(userButton).join('')}</ul></form>`;
  const names = register
    ? `<label for="given_name">First name</label><input id="given_name" name="given_name" autocomplete="given-name">
<label for="family_name">Last name</label><input id="family_name" name="family_name" autocomplete="family-name">`
    : '';
  const emailForm = `<h2 id="by-email">${register ? 'Your details' : 'Or sign in with an email'}</h2>
<form method="post" action="/oauth2/auth/login" aria-labelledby="by-email">${txn}
<input type="hidden" name="mode" value="${m.mode}">
<label for="email">Email</label><input id="email" name="email" type="email" required autocomplete="email"
 value="${escapeHtml(m.email ?? '')}">${names}
<button class="primary" type="submit">${register ? 'Create account' : 'Continue'}</button></form>`;
  const body = `<h1>${title}</h1><p class="note">to continue to ${escapeHtml(m.appName)}</p>${connection}${error}
${register ? emailForm + picker : picker + emailForm}`;
  return layout(title, body, m.lang);
}

/** The organization picker for a user in several organizations. */
export function orgPickerPage(txn: string, user: User, orgs: Organization[], lang?: string): string {
  const buttons = orgs
    .map(
      (o) => `<li><button type="submit" name="org_code" value="${escapeHtml(o.code)}">
<span class="name">${escapeHtml(o.name)}</span><span class="detail">${escapeHtml(o.code)}</span></button></li>`,
    )
    .join('');
  const body = `<h1>Choose an organization</h1><p class="note">Signed in as ${escapeHtml(user.email)}</p>
<form method="post" action="/oauth2/auth/org" aria-label="Organizations">
<input type="hidden" name="txn" value="${escapeHtml(txn)}"><ul class="choices">${buttons}</ul></form>`;
  return layout('Choose an organization', body, lang);
}

/** The page shown by `/logout` without a redirect. */
export function signedOutPage(): string {
  return layout('Signed out', '<h1>You are signed out</h1><p>You can close this window.</p>');
}
