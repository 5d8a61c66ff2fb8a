import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { flagsToText, textToFlags } from '../src/dashboard/directory-view.js';
import { type Emulator, startEmulator } from '../src/index.js';
import { baseAuthParams, CLIENT_ID, CLIENT_SECRET, login, REDIRECT, token } from './helpers.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({});
});
after(() => emu.close());

async function page(path: string): Promise<{ status: number; html: string; csrf: string }> {
  const res = await fetch(`${emu.issuerUrl}${path}`);
  const html = await res.text();
  return { status: res.status, html, csrf: /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '' };
}

function post(path: string, form: Record<string, string | string[]>, headers: Record<string, string> = {}) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form))
    for (const item of Array.isArray(v) ? v : [v]) body.append(k, item);
  return fetch(`${emu.issuerUrl}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: body.toString(),
  });
}

test('the root is a dashboard, not a JSON 404; every page is self-contained HTML and unframeable', async () => {
  for (const path of [
    '/',
    '/dashboard/sessions',
    '/dashboard/requests',
    '/dashboard/webhooks',
    '/dashboard/clock',
  ]) {
    const res = await fetch(`${emu.issuerUrl}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(String(res.headers.get('content-type')), /^text\/html/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.match(String(res.headers.get('content-security-policy')), /default-src 'none'/);
    const html = await res.text();
    assert.doesNotMatch(
      html,
      /<script|https?:\/\/(?!127\.0\.0\.1|localhost)[a-z]/i,
      `${path} loads nothing remote`,
    );
  }
  const { html } = await page('/');
  assert.match(html, new RegExp(`KINDE_ISSUER_URL=${emu.issuerUrl}\\n`));
  assert.match(html, new RegExp(`KINDE_CLIENT_ID=${CLIENT_ID}\\n`));
  assert.match(html, /<label for="u0m0-p">Permissions/);
});

test('state-changing forms need the page token, a same-origin post and a form body', async () => {
  const { csrf } = await page('/dashboard/clock');
  const cases: [Record<string, string>, Record<string, string>][] = [
    [{ advanceSeconds: '60' }, {}],
    [{ advanceSeconds: '60', csrf: `${csrf}x` }, {}],
    [{ advanceSeconds: '60', csrf }, { origin: 'http://evil.test' }],
    [{ advanceSeconds: '60', csrf }, { 'sec-fetch-site': 'cross-site' }],
  ];
  for (const [form, headers] of cases) {
    const res = await post('/dashboard/clock', form, headers);
    assert.equal(res.status, 403, JSON.stringify({ form, headers }));
  }
  const json = await fetch(`${emu.issuerUrl}/dashboard/clock`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ csrf, advanceSeconds: 60 }),
  });
  assert.equal(json.status, 403);
  assert.equal(emu.clock.offsetSeconds, 0);
  const ok = await post('/dashboard/clock', { csrf, advanceSeconds: '60' }, { origin: emu.issuerUrl });
  assert.equal(ok.status, 303);
  assert.equal(emu.clock.offsetSeconds, 60);
  assert.match((await page('/dashboard/clock')).html, /role="status">Clock moved by 60 s\./);
  assert.equal((await post('/dashboard/clock/reset', { csrf })).status, 303);
  assert.equal(emu.clock.offsetSeconds, 0);
});

test('bad form values give a clear message, not a 500', async () => {
  const { csrf } = await page('/dashboard/clock');
  assert.equal((await post('/dashboard/clock', { csrf, advanceSeconds: 'soon' })).status, 303);
  assert.match(
    (await page('/dashboard/clock')).html,
    /role="alert">&#34;advanceSeconds&#34; must be a whole number/,
  );
  await post('/dashboard/faults', { csrf, target: 'everything', mode: 'down' });
  assert.match((await page('/dashboard/clock')).html, /role="alert">endpoint must be one of/);
  const user = emu.directory.users[1];
  await post(`/dashboard/users/${user?.id}/membership`, { csrf, org: 'org_0000000001', roles: 'owner' });
  assert.match((await page('/')).html, /role="alert">No role has key &#34;owner&#34;/);
  await post(`/dashboard/users/${user?.id}/membership`, { csrf, org: 'org_0000000001', flags: 'just words' });
  assert.match((await page('/')).html, /role="alert">Flags line 1: write key=value/);
  await post('/dashboard/sessions/0000/revoke', { csrf });
  assert.match((await page('/dashboard/sessions')).html, /role="alert">That session has already ended/);
  await post('/dashboard/webhooks', { csrf, endpoint: 'http://example.com/x', events: 'user.created' });
  assert.match(
    (await page('/dashboard/webhooks')).html,
    /role="alert">&#34;endpoint&#34; is not a loopback URL/,
  );
  await post('/dashboard/deliveries/nope/replay', { csrf });
  assert.match((await page('/dashboard/webhooks')).html, /role="alert">no delivery &#34;nope&#34;/);
});

test('editing a membership changes the next tokens; faults and the request filter work without JS', async () => {
  const { csrf } = await page('/');
  const user = emu.directory.users[1];
  const res = await post(`/dashboard/users/${user?.id}/membership`, {
    csrf,
    org: 'org_0000000001',
    roles: ['admin'],
    permissions: 'read:items, write:items',
    flags: 'dark_mode=true\nlimit=3\ncode="42"',
  });
  assert.equal(res.status, 303);
  const t = await emu.control.issueTokens({ user: 'user@example.test' });
  const claims = JSON.parse(Buffer.from(t.access_token.split('.')[1] ?? '', 'base64url').toString());
  assert.deepEqual(
    claims.roles.map((r: { key: string }) => r.key),
    ['admin'],
  );
  assert.deepEqual(claims.permissions, ['read:items', 'write:items']);
  assert.deepEqual(claims.feature_flags, {
    code: { t: 's', v: '42' },
    dark_mode: { t: 'b', v: true },
    limit: { t: 'i', v: 3 },
  });
  await post('/dashboard/faults', { csrf, target: 'token', mode: 'down', count: '1', delayMs: '' });
  const down = await token(emu, {
    grant_type: 'client_credentials',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  assert.equal(down.status, 503);
  const again = await token(emu, {
    grant_type: 'client_credentials',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  assert.equal(again.status, 200);
  await login(emu, 'admin@example.test', baseAuthParams({ redirect_uri: REDIRECT }));
  const filtered = (await page('/dashboard/requests?path=token&status=errors')).html;
  assert.match(filtered, /<code>\/oauth2\/token<\/code>/);
  assert.match(filtered, />503</);
  assert.doesNotMatch(filtered, /<code>\/oauth2\/auth<\/code>/);
  assert.ok(
    !emu.requests.some((r) => r.path === '/' || r.path.startsWith('/dashboard')),
    'the dashboard is not logged',
  );
  await fetch(`${emu.issuerUrl}/logout?id_token_hint=eyJSECRETVALUE.x.y&state=s1`, { redirect: 'manual' });
  const logout = (await page('/dashboard/requests?path=logout')).html;
  assert.match(logout, /id_token_hint=\[redacted\]&#38;state=s1/);
  assert.doesNotMatch(logout, /SECRETVALUE/);
});

test('flags round-trip through the text form', () => {
  const flags = { a: true, b: 5, c: 'pink', d: '7', e: 'false', f: '"q"' };
  assert.deepEqual(textToFlags(flagsToText(flags)), flags);
  assert.throws(() => textToFlags('x="unterminated'), /not a JSON string/);
});

test('without the control API there is no dashboard either', async () => {
  const closed = await startEmulator({ control: false });
  try {
    const res = await fetch(`${closed.issuerUrl}/`);
    assert.equal(res.status, 404);
  } finally {
    await closed.close();
  }
});
