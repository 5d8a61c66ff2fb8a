import type { EmulatorContext, FailureTarget } from '../context.js';
import { escapeHtml } from '../pages.js';
import { WEBHOOK_EVENT_TYPES } from '../webhooks/events.js';
import type { WebhookDelivery, Webhooks } from '../webhooks/hub.js';
import { button, isoSeconds, postForm } from './layout.js';

/** Endpoints that failure injection can target, with what they cover. */
export const FAULT_TARGETS: [FailureTarget, string][] = [
  ['token', 'POST /oauth2/token'],
  ['jwks', 'GET /.well-known/jwks(.json)'],
  ['user_profile', 'profile and userinfo endpoints'],
  ['discovery', 'GET /.well-known/openid-configuration'],
  ['account_api', 'GET /account_api/v1/… (entitlements, roles, portal link…)'],
];

const ADVANCE = [
  [60, '+1 minute'],
  [3600, '+1 hour'],
  [86_400, '+1 day'],
  [1_296_000, '+15 days (refresh tokens)'],
] as const;

/** The clock (advance to expire tokens, or reset) and failure injection. */
export function clockPage(ctx: EmulatorContext, csrf: string): string {
  const now = ctx.clock.now();
  const presets = ADVANCE.map(([s, label]) =>
    postForm(
      '/dashboard/clock',
      csrf,
      `<input type="hidden" name="advanceSeconds" value="${s}"><button type="submit" class="secondary">${label}</button>`,
    ),
  ).join('');
  const custom = postForm(
    '/dashboard/clock',
    csrf,
    `<div class="row"><div><label for="advance">Advance by seconds (negative goes back)</label>
<input id="advance" name="advanceSeconds" type="number" step="1" required></div><div><button type="submit">Advance</button></div></div>`,
  );
  const faults = FAULT_TARGETS.map(([target, what]) => {
    const f = ctx.failures[target];
    const state = f
      ? `<span class="pill bad">${f.mode}${f.delayMs ? ` ${f.delayMs} ms` : ''}${f.remaining !== undefined ? `, ${f.remaining} left` : ''}</span>`
      : '<span class="pill ok">normal</span>';
    return `<tr><th scope="row"><code>${target}</code></th><td>${escapeHtml(what)}</td><td>${state}</td></tr>`;
  }).join('');
  const faultForm = postForm(
    '/dashboard/faults',
    csrf,
    `<div class="row"><div><label for="ft">Endpoint</label><select id="ft" name="target">${FAULT_TARGETS.map(([t]) => `<option value="${t}">${t}</option>`).join('')}</select></div>
<div><label for="fm">Mode</label><select id="fm" name="mode"><option value="down">down (503)</option><option value="slow">slow</option></select></div>
<div><label for="fd">Delay (ms)</label><input id="fd" name="delayMs" type="number" min="0" max="120000" step="1" placeholder="0 / 2000"></div>
<div><label for="fc">Requests affected (empty: until cleared)</label><input id="fc" name="count" type="number" min="1" step="1"></div>
<div><button type="submit">Inject</button></div></div>`,
    'Inject a failure',
  );
  return `<h2 id="clock">Clock</h2><div class="card">
<p>Emulator time: <strong id="clock-now">${isoSeconds(now)}</strong> (<span id="clock-offset">offset ${ctx.clock.offsetSeconds} s</span>).
Tokens, codes and sessions expire by this clock; moving it forward expires them without waiting.</p>
<div class="row">${presets}${button('/dashboard/clock/reset', csrf, 'Back to real time')}</div>${custom}</div>
<h2 id="faults">Fault injection</h2><div class="card"><table><thead><tr><th scope="col">Target</th><th scope="col">Covers</th><th scope="col">State</th></tr></thead>
<tbody>${faults}</tbody></table>${faultForm}${button('/dashboard/faults/clear', csrf, 'Clear all failures')}</div>`;
}

function deliveryRow(d: WebhookDelivery, csrf: string): string {
  const cls = d.status === 'delivered' ? 'pill ok' : d.status === 'pending' ? 'pill' : 'pill bad';
  const code = d.responseCode ?? '—';
  const detail =
    d.lastError && d.status !== 'delivered'
      ? `<br><span class="muted">${escapeHtml(d.lastError)}</span>`
      : '';
  const replay = d.replayOf ? ' <span class="pill">replay</span>' : '';
  const next = d.nextAttemptAt
    ? `<br><span class="muted">retry at ${escapeHtml(d.nextAttemptAt.slice(11, 19))}</span>`
    : '';
  return `<tr><td>${escapeHtml(d.attempts[0]?.at.slice(11, 19) ?? '—')}</td><td><code>${escapeHtml(d.event.type)}</code>${replay}<br><code class="muted">${escapeHtml(d.event.event_id)}</code></td>
<td><code>${escapeHtml(d.endpoint)}</code></td><td><span class="${cls}">${d.status}</span>${detail}${next}</td>
<td>${d.attempts.length}</td><td>${code}</td>
<td>${button(`/dashboard/deliveries/${encodeURIComponent(d.id)}/replay`, csrf, 'Replay', 'secondary', `Replay ${d.event.type} to ${d.endpoint}`)}</td></tr>`;
}

/** Webhook endpoints (add one), fire any event, and the delivery log with replay. */
export function webhooksPage(ctx: EmulatorContext, hooks: Webhooks, csrf: string): string {
  const endpoints = hooks
    .endpoints()
    .map(
      (w) =>
        `<tr><td><code>${escapeHtml(w.endpoint)}</code></td><td>${escapeHtml(w.events.join(', '))}</td><td>${w.origin}</td></tr>`,
    )
    .join('');
  const types = WEBHOOK_EVENT_TYPES.map((t) => `<option value="${t}">${t}</option>`).join('');
  const users = ctx.directory.users
    .map((u) => `<option value="${escapeHtml(u.id)}">${escapeHtml(u.email)}</option>`)
    .join('');
  const add = postForm(
    '/dashboard/webhooks',
    csrf,
    `<div class="row"><div><label for="we">Endpoint URL (loopback)</label><input id="we" name="endpoint" type="url" required size="40" placeholder="http://127.0.0.1:3000/api/webhooks"></div>
<div><label for="wt">Events (hold Ctrl/Cmd for several)</label><select id="wt" name="events" multiple size="4" required>${types}</select></div>
<div><button type="submit">Add endpoint</button></div></div>`,
    'Add a webhook endpoint',
  );
  const fire = postForm(
    '/dashboard/webhooks/fire',
    csrf,
    `<div class="row"><div><label for="ht">Event</label><select id="ht" name="type">${types}</select></div>
<div><label for="hu">About user (user and membership events)</label><select id="hu" name="user">${users}</select></div>
<div><button type="submit">Fire event</button></div></div>`,
    'Fire an event',
  );
  const rows = hooks
    .deliveries()
    .slice(0, 200)
    .map((d) => deliveryRow(d, csrf))
    .join('');
  return `<h2 id="endpoints">Endpoints</h2><div class="card"><table><thead><tr><th scope="col">Endpoint</th><th scope="col">Events</th><th scope="col">From</th></tr></thead>
<tbody>${endpoints || '<tr><td colspan="3">No endpoints: add one below or in the directory (<code>webhooks</code>).</td></tr>'}</tbody></table>${add}</div>
<h2 id="fire">Fire an event by hand</h2><div class="card"><p class="muted">Built from the directory (organization, role and permission events use the first one); billing events need the HTTP control call with <code>data</code>.</p>${fire}</div>
<h2 id="deliveries">Deliveries</h2><div class="card"><table><thead><tr><th scope="col">First attempt</th><th scope="col">Event</th><th scope="col">Endpoint</th>
<th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last code</th><th scope="col"><span class="muted">Action</span></th></tr></thead>
<tbody>${rows || '<tr><td colspan="7">No deliveries yet.</td></tr>'}</tbody></table></div>`;
}
