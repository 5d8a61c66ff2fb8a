import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defaultDirectory, type Emulator, startEmulator } from '../src/index.js';
import { baseAuthParams, CLIENT_ID, exchangeCode, get, login, token } from './helpers.js';

// What js-utils sends from a page on a custom domain: Origin of the app, no refresh_token, cookies.
const ORIGIN = 'http://127.0.0.1:3999';
const RT_COOKIE = `kinde_emu_rt_${CLIENT_ID}`;
const SPA_ID = 'spa_client_0001';

let emu: Emulator;
before(async () => {
  const directory = defaultDirectory();
  // A public SPA registered for a non-loopback origin only.
  directory.applications.push({
    name: 'SPA',
    clientId: SPA_ID,
    grants: ['authorization_code', 'refresh_token'],
    redirectUris: ['https://app.example.test/callback'],
    logoutUris: [],
  });
  emu = await startEmulator({ directory, refreshGraceSeconds: 5 });
});
after(() => emu.close());

function setCookies(headers: Headers): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of headers.getSetCookie()) out.set(line.slice(0, line.indexOf('=')), line);
  return out;
}

function cookieValue(line: string | undefined): string {
  return line?.split(';')[0]?.split('=').slice(1).join('=') ?? '';
}

/** Logs in as the plain user and exchanges the code as a page on ORIGIN would (PKCE-less, with secret). */
async function signIn(origin: string | null = ORIGIN) {
  const r = await login(emu, 'user@example.test', baseAuthParams());
  const res = await exchangeCode(emu, r.code, origin ? { origin } : {});
  assert.equal(res.status, 200);
  return { res, sso: r.cookie ?? '' };
}

function cookieRefresh(cookie: string, origin: string | null = ORIGIN) {
  return token(
    emu,
    { grant_type: 'refresh_token', client_id: CLIENT_ID },
    { ...(origin ? { origin } : {}), cookie },
  );
}

test('a token response to an allowed origin sets the HttpOnly refresh cookie and the _kbrte marker', async () => {
  const { res } = await signIn();
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN);
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  const cookies = setCookies(res.headers);
  const rt = cookies.get(RT_COOKIE) ?? '';
  assert.equal(cookieValue(rt), res.body.refresh_token);
  assert.match(rt, /; Path=\/oauth2\/token; HttpOnly; SameSite=Lax; Max-Age=1296000$/);
  const marker = cookies.get('_kbrte') ?? '';
  assert.match(marker, /^_kbrte=1; Path=\/; SameSite=Lax; Max-Age=1296000$/);
  assert.doesNotMatch(marker, /HttpOnly/);
});

test('no Origin (a server-side client) gets no cookies', async () => {
  const { res } = await signIn(null);
  assert.deepEqual(res.headers.getSetCookie(), []);
});

test('the refresh grant takes the cookie when no refresh_token is sent, and rotates it', async () => {
  const { res } = await signIn();
  const first = String(res.body.refresh_token);
  const r1 = await cookieRefresh(`_kbrte=1; ${RT_COOKIE}=${first}`);
  assert.equal(r1.status, 200, JSON.stringify(r1.body));
  assert.equal(typeof r1.body.access_token, 'string');
  assert.equal(typeof r1.body.id_token, 'string');
  const second = cookieValue(setCookies(r1.headers).get(RT_COOKIE));
  assert.equal(second, r1.body.refresh_token);
  assert.notEqual(second, first);
  // The rotated-out cookie works within the grace window, then revokes the family and is dropped.
  emu.clock.advance(10);
  const replay = await cookieRefresh(`${RT_COOKIE}=${first}`);
  assert.equal(replay.status, 400);
  assert.equal(replay.body.error, 'invalid_grant');
  const cleared = setCookies(replay.headers);
  assert.match(cleared.get(RT_COOKIE) ?? '', /^kinde_emu_rt_\w+=; .*Max-Age=0$/);
  assert.match(cleared.get('_kbrte') ?? '', /^_kbrte=; .*Max-Age=0$/);
  const after = await cookieRefresh(`${RT_COOKIE}=${second}`);
  assert.equal(after.body.error, 'invalid_grant');
});

test('a cookie refresh needs the cookie and an Origin of the application', async () => {
  const { res } = await signIn();
  const cookie = `${RT_COOKIE}=${String(res.body.refresh_token)}`;
  const none = await cookieRefresh('_kbrte=1');
  assert.equal(none.status, 400);
  assert.match(String(none.body.error_description), /refresh_token.*missing.*no refresh cookie/);
  for (const origin of [null, 'https://evil.example', 'null', `${ORIGIN}/path`]) {
    const bad = await cookieRefresh(cookie, origin);
    assert.equal(bad.status, 400, String(origin));
    assert.match(String(bad.body.error_description), /Origin of one of the application/);
  }
  assert.equal((await cookieRefresh(cookie)).status, 200);
});

test('CORS and cookies for an application origin that is not loopback', async () => {
  const origin = 'https://app.example.test';
  const pre = await fetch(`${emu.issuerUrl}/oauth2/token`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), origin);
  const other = await fetch(`${emu.issuerUrl}/oauth2/token`, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  });
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  // The default app does not list that origin: no cookie for it.
  const { res } = await signIn(origin);
  assert.deepEqual(res.headers.getSetCookie(), []);
});

test('logout clears the cookies and revokes the families issued by cookie to that browser', async () => {
  const { res, sso } = await signIn();
  const rt = String(res.body.refresh_token);
  // The browser's credentialed refresh carries the SSO cookie too; the new family member is linked.
  const r1 = await cookieRefresh(`${sso}; ${RT_COOKIE}=${rt}`);
  assert.equal(r1.status, 200);
  const latest = String(r1.body.refresh_token);
  const out = await get(`${emu.issuerUrl}/logout?redirect=${encodeURIComponent(`${ORIGIN}/`)}`, sso);
  assert.equal(out.status, 302);
  const cleared = setCookies(out.headers);
  assert.match(cleared.get(RT_COOKIE) ?? '', /=; Path=\/oauth2\/token; HttpOnly; .*Max-Age=0$/);
  assert.match(cleared.get('_kbrte') ?? '', /^_kbrte=; Path=\/; .*Max-Age=0$/);
  assert.ok(cleared.has('kinde_emu_session'), 'the SSO cookie is cleared as before');
  const dead = await cookieRefresh(`${RT_COOKIE}=${latest}`);
  assert.equal(dead.status, 400);
  assert.equal(dead.body.error, 'invalid_grant');
});
