import { createHash } from 'node:crypto';
import type { EmulatorContext } from '../context.js';
import { findUser } from '../directory.js';
import { escapeHtml } from '../pages.js';
import type { RequestLogEntry } from '../types.js';
import { button, isoSeconds, postForm } from './layout.js';

/** A public handle for an SSO session: the session id is its cookie value, so it is never shown. */
export function sessionHandle(sid: string): string {
  return createHash('sha256').update(`dashboard:${sid}`).digest('hex').slice(0, 20);
}

function who(ctx: EmulatorContext, userId: string): string {
  return escapeHtml(findUser(ctx.directory, userId)?.email ?? userId);
}

function sessionsTable(ctx: EmulatorContext, csrf: string): string {
  const rows = ctx.store.sessions
    .list()
    .map(({ key, value, expiresAt }) => {
      const h = sessionHandle(key);
      return `<tr><td>${who(ctx, value.userId)}</td><td><code>${escapeHtml(value.orgCode ?? '—')}</code></td>
<td>${isoSeconds(value.authTime)}</td><td>${isoSeconds(expiresAt)}</td>
<td>${button(`/dashboard/sessions/${h}/revoke`, csrf, 'Revoke', 'danger', `Revoke session of ${findUser(ctx.directory, value.userId)?.email ?? value.userId}`)}</td></tr>`;
    })
    .join('');
  return `<table><thead><tr><th scope="col">User</th><th scope="col">Organization</th><th scope="col">Signed in</th>
<th scope="col">Expires</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${rows || '<tr><td colspan="5">No live sessions.</td></tr>'}</tbody></table>`;
}

interface Family {
  familyId: string;
  userId: string;
  clientId: string;
  orgCode: string | undefined;
  tokens: number;
  expiresAt: number;
}

/** Live refresh-token families (tokens that share a login), newest expiry last. */
export function families(ctx: EmulatorContext): Family[] {
  const byId = new Map<string, Family>();
  for (const { value } of ctx.store.refreshTokens.list()) {
    const f = byId.get(value.familyId);
    if (f) {
      f.tokens += 1;
      f.expiresAt = Math.max(f.expiresAt, value.expiresAt);
    } else {
      const { familyId, userId, clientId, orgCode, expiresAt } = value;
      byId.set(familyId, { familyId, userId, clientId, orgCode, tokens: 1, expiresAt });
    }
  }
  return [...byId.values()];
}

function familiesTable(ctx: EmulatorContext, csrf: string): string {
  const rows = families(ctx)
    .map((f) => {
      const revoked = ctx.store.revokedFamilies.has(f.familyId);
      const action = revoked
        ? '<span class="pill bad">revoked</span>'
        : button(
            `/dashboard/families/${encodeURIComponent(f.familyId)}/revoke`,
            csrf,
            'Revoke',
            'danger',
            `Revoke refresh tokens of ${findUser(ctx.directory, f.userId)?.email ?? f.userId} for ${f.clientId}`,
          );
      return `<tr><td>${who(ctx, f.userId)}</td><td><code>${escapeHtml(f.clientId)}</code></td>
<td><code>${escapeHtml(f.orgCode ?? '—')}</code></td><td>${f.tokens}</td><td>${isoSeconds(f.expiresAt)}</td><td>${action}</td></tr>`;
    })
    .join('');
  return `<table><thead><tr><th scope="col">User</th><th scope="col">Client</th><th scope="col">Organization</th>
<th scope="col">Tokens (rotations)</th><th scope="col">Expires</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${rows || '<tr><td colspan="6">No refresh tokens.</td></tr>'}</tbody></table>`;
}

/** Live SSO sessions and refresh-token families, each revocable. */
export function sessionsPage(ctx: EmulatorContext, csrf: string): string {
  return `<h2 id="sso">Emulator sessions (SSO cookie)</h2>
<p class="muted">Revoking one makes the next sign-in show the user picker again.</p>
<div class="card">${sessionsTable(ctx, csrf)}</div>
<h2 id="families">Refresh-token families</h2>
<p class="muted">Revoking a family makes every refresh token of that login fail with <code>invalid_grant</code>.</p>
<div class="card">${familiesTable(ctx, csrf)}</div>`;
}

/** Filters of the request log page (from its GET form). */
export interface RequestFilter {
  path?: string;
  method?: string;
  status?: string;
  live?: boolean;
}

function matches(e: RequestLogEntry, f: RequestFilter): boolean {
  if (f.path && !e.path.toLowerCase().includes(f.path.toLowerCase())) return false;
  if (f.method && e.method !== f.method) return false;
  if (f.status === 'errors' && (e.status ?? 0) < 400) return false;
  if (f.status === 'ok' && (e.status === undefined || e.status >= 400)) return false;
  return true;
}

function option(value: string, label: string, current: string | undefined): string {
  return `<option value="${value}"${value === (current ?? '') ? ' selected' : ''}>${label}</option>`;
}

/** The request log (already redacted when recorded), newest first, filterable; `live` refreshes it. */
export function requestsPage(log: RequestLogEntry[], f: RequestFilter, csrf: string): string {
  const shown = log
    .filter((e) => matches(e, f))
    .slice(-500)
    .reverse();
  const rows = shown
    .map((e) => {
      const query = e.query
        ? escapeHtml(
            Object.entries(e.query)
              .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
              .join('&'),
          )
        : '';
      const cls = (e.status ?? 0) >= 400 ? 'pill bad' : 'pill ok';
      return `<tr><td>${new Date(e.time).toISOString().slice(11, 23)}</td><td>${escapeHtml(e.method)}</td>
<td><code>${escapeHtml(e.path)}</code>${query ? `<br><code class="muted">?${query}</code>` : ''}</td>
<td>${escapeHtml(e.grantType ?? '')}</td><td><span class="${cls}">${e.status ?? '…'}</span></td></tr>`;
    })
    .join('');
  const filter = `<form method="get" action="/dashboard/requests" class="row" aria-label="Filter requests">
<div><label for="f-path">Path contains</label><input id="f-path" name="path" value="${escapeHtml(f.path ?? '')}"></div>
<div><label for="f-method">Method</label><select id="f-method" name="method">${option('', 'Any', f.method)}${['GET', 'POST', 'OPTIONS', 'PUT', 'DELETE'].map((m) => option(m, m, f.method)).join('')}</select></div>
<div><label for="f-status">Status</label><select id="f-status" name="status">${option('', 'Any', f.status)}${option('ok', 'Success', f.status)}${option('errors', 'Errors (4xx/5xx)', f.status)}</select></div>
<div><label for="f-live"><input type="checkbox" id="f-live" name="live" value="1"${f.live ? ' checked' : ''}> Live (refresh every 3 s)</label></div>
<div><button type="submit">Apply</button></div></form>`;
  return `<div class="card">${filter}</div>
<p class="muted">${shown.length} of ${log.length} requests. Credentials in query strings are recorded as <code>[redacted]</code>; control and dashboard calls are not recorded.</p>
<div class="card"><table><thead><tr><th scope="col">Time (UTC)</th><th scope="col">Method</th><th scope="col">Path</th>
<th scope="col">Grant</th><th scope="col">Status</th></tr></thead><tbody>${rows || '<tr><td colspan="5">No requests match.</td></tr>'}</tbody></table></div>
${postForm('/dashboard/requests/clear', csrf, '<button type="submit" class="secondary">Clear the log</button>')}`;
}
