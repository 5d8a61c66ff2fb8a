import { fullName } from '../directory.js';
import { escapeHtml } from '../pages.js';
import type { Application, Directory, FlagValue, Membership, User } from '../types.js';
import { button, postForm } from './layout.js';

/** Flags as `key=value` lines; strings that would read as another type are JSON-quoted. */
export function flagsToText(flags: Record<string, FlagValue> | undefined): string {
  return Object.entries(flags ?? {})
    .map(([k, v]) => {
      const ambiguous = typeof v === 'string' && (/^(true|false|-?\d+)$/.test(v) || v.startsWith('"'));
      return `${k}=${ambiguous ? JSON.stringify(v) : String(v)}`;
    })
    .join('\n');
}

/** Parses `key=value` lines: true/false, integers, "quoted" or bare strings. Throws RangeError. */
export function textToFlags(text: string): Record<string, FlagValue> {
  const out: Record<string, FlagValue> = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!/^[A-Za-z0-9_.:-]+$/.test(key)) throw new RangeError(`Flags line ${i + 1}: write key=value`);
    const v = line.slice(eq + 1).trim();
    if (v === 'true' || v === 'false') out[key] = v === 'true';
    else if (/^-?\d+$/.test(v) && Number.isSafeInteger(Number(v))) out[key] = Number(v);
    else if (v.startsWith('"')) {
      try {
        const parsed: unknown = JSON.parse(v);
        if (typeof parsed !== 'string') throw new Error('not a string');
        out[key] = parsed;
      } catch {
        throw new RangeError(`Flags line ${i + 1}: the quoted value is not a JSON string`);
      }
    } else out[key] = v;
  }
  return out;
}

/** Textarea height: its lines plus one to type in, at least 2. */
function rows(lines: number): number {
  return Math.max(2, Math.min(lines + 1, 12));
}

function membershipForm(dir: Directory, user: User, m: Membership, id: string, csrf: string): string {
  const roles = dir.roles.length
    ? dir.roles
        .map(
          (r, k) =>
            `<label for="${id}-r${k}"><input type="checkbox" id="${id}-r${k}" name="roles" value="${escapeHtml(r.key)}"${m.roles.includes(r.key) ? ' checked' : ''}> ${escapeHtml(r.name)} <code>${escapeHtml(r.key)}</code></label>`,
        )
        .join('')
    : '<span class="muted">The directory has no roles.</span>';
  const orgName = dir.organizations.find((o) => o.code === m.orgCode)?.name ?? m.orgCode;
  const inner = `<input type="hidden" name="org" value="${escapeHtml(m.orgCode)}">
<h3>${escapeHtml(orgName)} <code class="muted">${escapeHtml(m.orgCode)}</code></h3>
<fieldset><legend>Roles</legend>${roles}</fieldset>
<label for="${id}-p">Permissions (space or line separated)</label>
<textarea id="${id}-p" name="permissions" rows="${rows(m.permissions.length)}">${escapeHtml(m.permissions.join('\n'))}</textarea>
<label for="${id}-f">Feature flags (key=value per line)</label>
<textarea id="${id}-f" name="flags" rows="${rows(Object.keys(m.featureFlags ?? {}).length)}">${escapeHtml(flagsToText(m.featureFlags))}</textarea>
<p><button type="submit">Save ${escapeHtml(orgName)} for ${escapeHtml(user.email)}</button></p>`;
  return postForm(`/dashboard/users/${encodeURIComponent(user.id)}/membership`, csrf, inner);
}

function userCard(dir: Directory, user: User, i: number, csrf: string): string {
  const memberships = user.organizations.length
    ? user.organizations.map((m, j) => membershipForm(dir, user, m, `u${i}m${j}`, csrf)).join('')
    : '<p class="muted">Not a member of any organization.</p>';
  const signIn = button(
    `/dashboard/users/${encodeURIComponent(user.id)}/sign-in-as`,
    csrf,
    'Sign in as',
    '',
    `Sign in as ${user.email}`,
  );
  return `<section class="card" aria-labelledby="user-${i}">
<div class="row" style="justify-content:space-between"><div><h3 id="user-${i}">${escapeHtml(fullName(user) || user.email)}</h3>
<span>${escapeHtml(user.email)}</span> <code class="muted">${escapeHtml(user.id)}</code></div>${signIn}</div>
${memberships}</section>`;
}

function originOf(uri: string | undefined): string | undefined {
  try {
    return uri ? new URL(uri).origin : undefined;
  } catch {
    return undefined;
  }
}

/** The `KINDE_*` lines an app pastes into its `.env` for this application. */
export function envLines(app: Application, issuer: string): string {
  const site = originOf(app.redirectUris[0]) ?? 'http://localhost:3000';
  const lines = [
    `KINDE_ISSUER_URL=${issuer}`,
    `KINDE_CLIENT_ID=${app.clientId}`,
    ...(app.clientSecret ? [`KINDE_CLIENT_SECRET=${app.clientSecret}`] : []),
    `KINDE_SITE_URL=${site}`,
    `KINDE_POST_LOGIN_REDIRECT_URL=${app.redirectUris[0] ?? `${site}/`}`,
    `KINDE_POST_LOGOUT_REDIRECT_URL=${app.logoutUris[0] ?? site}`,
  ];
  return lines.join('\n');
}

function applications(dir: Directory, issuer: string): string {
  return dir.applications
    .map((a, i) => {
      const uris = [...a.redirectUris, ...(a.allowLoopbackRedirects ? ['any loopback URL'] : [])];
      return `<section class="card" aria-labelledby="app-${i}"><h3 id="app-${i}">${escapeHtml(a.name)}</h3>
<p><code>${escapeHtml(a.clientId)}</code> · ${a.clientSecret ? 'confidential' : 'public (PKCE)'} · grants: ${escapeHtml(a.grants.join(', '))}</p>
<p class="muted">Callbacks: ${escapeHtml(uris.join(', ') || 'none')}</p>
<label for="env-${i}">Ready to paste into <code>.env</code></label>
<pre id="env-${i}" tabindex="0">${escapeHtml(envLines(a, issuer))}</pre></section>`;
    })
    .join('');
}

function organizations(dir: Directory): string {
  const rows = dir.organizations
    .map((o) => {
      const members = dir.users.filter((u) => u.organizations.some((m) => m.orgCode === o.code)).length;
      return `<tr><td>${escapeHtml(o.name)}</td><td><code>${escapeHtml(o.code)}</code></td><td>${members}</td>
<td><code>${escapeHtml(flagsToText(o.featureFlags).replace(/\n/g, ', ') || '—')}</code></td></tr>`;
    })
    .join('');
  return `<div class="card"><table><caption class="muted" style="text-align:left">Members get the organization's flags unless their own override them.</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Code</th><th scope="col">Members</th><th scope="col">Flags</th></tr></thead>
<tbody>${rows || '<tr><td colspan="4">No organizations.</td></tr>'}</tbody></table></div>`;
}

/** The home page: users (sign in as, roles, permissions, flags), organizations and applications. */
export function directoryPage(dir: Directory, issuer: string, csrf: string): string {
  return `<p class="muted">"Sign in as" starts an emulator session for that user in this browser: the next sign-in
from any app continues as them without the picker. Saving a membership emits <code>user.updated</code>.</p>
<h2 id="users">Users</h2><div class="grid">${dir.users.map((u, i) => userCard(dir, u, i, csrf)).join('')}</div>
<h2 id="organizations">Organizations</h2>${organizations(dir)}
<h2 id="applications">Applications</h2><div class="grid">${applications(dir, issuer)}</div>`;
}
