import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Emulator, startEmulator } from '../src/index.js';
import {
  authUrl,
  baseAuthParams,
  CLIENT_ID,
  CLIENT_SECRET,
  exchangeCode,
  get,
  login,
  REDIRECT,
  token,
} from './helpers.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());

async function accessToken(email: string): Promise<string> {
  const r = await login(emu, email, baseAuthParams());
  const res = await exchangeCode(emu, r.code);
  return String(res.body.access_token);
}

test('user_profile v2, userinfo and v1 shapes', async () => {
  const at = await accessToken('user@example.test');
  const auth = { authorization: `Bearer ${at}` };
  const v2 = (await (
    await fetch(`${emu.issuerUrl}/oauth2/v2/user_profile`, { headers: auth })
  ).json()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(v2).sort(), [
    'email',
    'email_verified',
    'family_name',
    'given_name',
    'id',
    'name',
    'picture',
    'preferred_username',
    'provided_id',
    'sub',
    'updated_at',
  ]);
  assert.equal(v2.sub, 'kp_fedcba9876543210fedcba9876543210');
  assert.equal(v2.id, v2.sub);
  assert.equal(v2.name, 'Uma User');
  assert.equal(typeof v2.updated_at, 'number');
  const info = await (await fetch(`${emu.issuerUrl}/oauth2/userinfo`, { headers: auth })).json();
  assert.deepEqual(info, v2);
  const v1 = (await (
    await fetch(`${emu.issuerUrl}/oauth2/user_profile`, { headers: auth })
  ).json()) as Record<string, unknown>;
  assert.equal(v1.preferred_email, 'user@example.test');
  assert.equal(v1.first_name, 'Uma');
  assert.equal(v1.last_name, 'User');
});

test('user_profile rejects missing, garbage and M2M tokens with 401 invalid_token', async () => {
  const cc = await token(emu, {
    grant_type: 'client_credentials',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  for (const header of [undefined, 'Bearer garbage', 'Basic abc', `Bearer ${cc.body.access_token}`]) {
    const res = await fetch(`${emu.issuerUrl}/oauth2/v2/user_profile`, {
      headers: header ? { authorization: header } : {},
    });
    assert.equal(res.status, 401);
    const b = (await res.json()) as Record<string, unknown>;
    assert.equal(b.error, 'invalid_token');
    assert.equal(typeof b.error_description, 'string');
  }
});

test('prompt=none without a session → login_required; with the SSO cookie → a code', async () => {
  const res = await get(authUrl(emu, baseAuthParams({ prompt: 'none', state: 'xyz' })));
  assert.equal(res.status, 302);
  const loc = res.headers.get('location') ?? '';
  assert.ok(loc.startsWith(`${REDIRECT}?`));
  assert.match(loc, /error=login_required&error_description=User\+authentication\+is\+required&state=xyz/);
  const r = await login(emu, 'admin@example.test', baseAuthParams());
  const silent = await get(authUrl(emu, baseAuthParams({ prompt: 'none', state: 's2' })), r.cookie);
  const cb = new URL(silent.headers.get('location') ?? '');
  assert.ok(cb.searchParams.get('code'));
  assert.equal(cb.searchParams.get('state'), 's2');
});

test('logout: allowed loopback redirect, disallowed URL → error page, no param → signed-out page', async () => {
  const r = await login(emu, 'admin@example.test', baseAuthParams());
  const ok = await get(`${emu.issuerUrl}/logout?redirect=http://localhost:3999/`, r.cookie);
  assert.equal(ok.status, 302);
  assert.equal(ok.headers.get('location'), 'http://localhost:3999/');
  assert.match(ok.headers.get('set-cookie') ?? '', /kinde_emu_session=;.*Max-Age=0/);
  // The SSO session is gone server-side too.
  const after = await get(authUrl(emu, baseAuthParams({ prompt: 'none' })), r.cookie);
  assert.match(after.headers.get('location') ?? '', /error=login_required/);
  const bad = await get(`${emu.issuerUrl}/logout?redirect=${encodeURIComponent('https://evil.example/')}`);
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get('location'), null);
  assert.match(await bad.text(), /not an allowed logout redirect URL/);
  const plain = await get(`${emu.issuerUrl}/logout`);
  assert.equal(plain.status, 200);
  assert.match(await plain.text(), /You are signed out/);
});

test('headless login: login_hint signs in at once when enabled', async () => {
  const headless = await startEmulator({ port: 0, headlessLogin: true });
  try {
    const res = await get(authUrl(headless, baseAuthParams({ login_hint: 'user@example.test' })));
    assert.equal(res.status, 302);
    assert.ok(new URL(res.headers.get('location') ?? '').searchParams.get('code'));
  } finally {
    await headless.close();
  }
});

test('Account API: permissions, roles, feature flags, entitlements, portal link (Bearer)', async () => {
  const at = await accessToken('admin@example.test');
  const call = async (path: string) => {
    const res = await fetch(`${emu.issuerUrl}/account_api/v1/${path}`, {
      headers: { authorization: `Bearer ${at}` },
    });
    assert.equal(res.status, 200);
    return (await res.json()) as { data: Record<string, unknown>; metadata: Record<string, unknown> };
  };
  const perms = await call('permissions');
  assert.deepEqual(perms.metadata, { has_more: false, next_page_starting_after: null });
  assert.equal(perms.data.org_code, 'org_0000000001');
  assert.deepEqual(
    (perms.data.permissions as { key: string }[]).map((p) => p.key),
    ['read:items', 'write:items', 'delete:items'],
  );
  assert.equal((await call('permission/write:items')).data.is_granted, true);
  assert.deepEqual(
    ((await call('roles')).data.roles as { key: string }[]).map((r) => r.key),
    ['admin'],
  );
  const flags = (await call('feature_flags')).data.feature_flags as {
    key: string;
    type: string;
    value: unknown;
  }[];
  assert.deepEqual(
    flags.find((f) => f.key === 'max_items'),
    { id: 'flag_max_items', name: 'max_items', key: 'max_items', type: 'integer', value: 5 },
  );
  assert.deepEqual((await call('entitlements')).data, {
    org_code: 'org_0000000001',
    plans: [],
    entitlements: [],
  });
  const link = (await (
    await fetch(`${emu.issuerUrl}/account_api/v1/portal_link`, { headers: { authorization: `Bearer ${at}` } })
  ).json()) as { url: string };
  assert.match(link.url, new RegExp(`^${emu.issuerUrl}/portal\\?link=[A-Za-z0-9_-]+$`));
  assert.equal((await fetch(link.url)).status, 200);
  assert.equal((await fetch(`${emu.issuerUrl}/account_api/v1/roles`)).status, 401);
});

test('control.issueTokens and issueM2mToken mint tokens without the browser flow', async () => {
  const t = await emu.control.issueTokens({ user: 'user@example.test', audience: ['api://items'] });
  const profile = await fetch(`${emu.issuerUrl}/oauth2/v2/user_profile`, {
    headers: { authorization: `Bearer ${t.access_token}` },
  });
  assert.equal(((await profile.json()) as { email: string }).email, 'user@example.test');
  const payload = JSON.parse(Buffer.from(t.access_token.split('.')[1] ?? '', 'base64url').toString());
  assert.deepEqual(payload.aud, ['api://items']);
  assert.equal(payload.org_code, 'org_0000000001');
  assert.equal(typeof t.id_token, 'string');
  const refreshed = await token(emu, {
    grant_type: 'refresh_token',
    refresh_token: String(t.refresh_token),
    client_id: CLIENT_ID,
  });
  assert.equal(refreshed.status, 200);
  const m2m = await emu.control.issueM2mToken({ scope: ['read'] });
  assert.deepEqual(JSON.parse(Buffer.from(m2m.split('.')[1] ?? '', 'base64url').toString()).gty, [
    'client_credentials',
  ]);
  await assert.rejects(emu.control.issueTokens({ user: 'ghost@example.test' }), /no user/);
  await assert.rejects(
    emu.control.issueTokens({ user: 'user@example.test', orgCode: 'org_x' }),
    /not a member/,
  );
});

test('logout: id_token_hint narrows the allowed URLs to its application; garbage hint → 400', async () => {
  const t = await emu.control.issueTokens({ user: 'user@example.test' });
  const ok = await get(
    `${emu.issuerUrl}/logout?id_token_hint=${t.id_token}&post_logout_redirect_uri=http://127.0.0.1:1/`,
  );
  assert.equal(ok.status, 302);
  const bad = await get(
    `${emu.issuerUrl}/logout?id_token_hint=garbage&post_logout_redirect_uri=http://127.0.0.1:1/`,
  );
  assert.equal(bad.status, 400);
});
