import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createKindeServerClient, GrantType, type SessionManager } from '@kinde-oss/kinde-typescript-sdk';
import { type Emulator, startEmulator } from '../src/index.js';
import { CLIENT_ID, CLIENT_SECRET, get, parseLoginPage, postForm, REDIRECT } from './helpers.js';

/** Compatibility: Kinde's official TypeScript SDK, pointed at the emulator as its authDomain. */

class MemorySession implements SessionManager {
  readonly items = new Map<string, unknown>();
  async getSessionItem(key: string) {
    return this.items.get(key) ?? null;
  }
  async setSessionItem(key: string, value: unknown) {
    this.items.set(key, value);
  }
  async removeSessionItem(key: string) {
    this.items.delete(key);
  }
  async destroySession() {
    this.items.clear();
  }
}

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());

const LOGOUT = 'http://127.0.0.1:3999/';

/** Follows a login URL from the SDK through the emulator's page, picking `email`. */
async function browse(url: URL, email: string): Promise<URL> {
  const page = parseLoginPage(await (await get(url.toString())).text());
  const user = page.users.find((u) => u.text.includes(email));
  const res = await postForm(`${emu.issuerUrl}${page.action}`, { txn: page.txn, user_id: user?.id ?? '' });
  assert.equal(res.status, 302);
  return new URL(res.headers.get('location') ?? '');
}

function options() {
  return { authDomain: emu.issuerUrl, clientId: CLIENT_ID, redirectURL: REDIRECT, logoutRedirectURL: LOGOUT };
}

test('PKCE: login, handleRedirectToApp, user, profile, permissions, flags, organizations, refresh, logout', async () => {
  const client = createKindeServerClient(GrantType.PKCE, options());
  const session = new MemorySession();
  const loginUrl = await client.login(session);
  assert.equal(loginUrl.origin, emu.issuerUrl);
  await client.handleRedirectToApp(session, await browse(loginUrl, 'admin@example.test'));
  assert.equal(await client.isAuthenticated(session), true);
  const user = await client.getUser(session);
  assert.equal(user.email, 'admin@example.test');
  assert.equal(user.given_name, 'Ada');
  assert.equal(user.id, 'kp_0123456789abcdef0123456789abcdef');
  const profile = await client.getUserProfile(session);
  assert.equal(profile.email, 'admin@example.test');
  assert.deepEqual(await client.getPermissions(session), {
    orgCode: 'org_0000000001',
    permissions: ['read:items', 'write:items', 'delete:items'],
  });
  assert.equal((await client.getPermission(session, 'write:items')).isGranted, true);
  assert.equal(await client.getBooleanFlag(session, 'dark_mode'), true);
  assert.equal(await client.getStringFlag(session, 'theme'), 'pink');
  assert.equal(await client.getIntegerFlag(session, 'max_items'), 5);
  const flag = (code: string) => client.getFlag(session, code);
  assert.deepEqual(await flag('dark_mode'), {
    code: 'dark_mode',
    type: 'boolean',
    value: true,
    is_default: false,
  });
  assert.deepEqual(await flag('theme'), { code: 'theme', type: 'string', value: 'pink', is_default: false });
  assert.deepEqual(await flag('max_items'), {
    code: 'max_items',
    type: 'number',
    value: 5,
    is_default: false,
  });
  assert.equal((await client.getFlag(session, 'missing', 'fallback')).is_default, true);
  assert.deepEqual(await client.getOrganization(session), { orgCode: 'org_0000000001' });
  assert.deepEqual(await client.getUserOrganizations(session), { orgCodes: ['org_0000000001'] });
  const before = await client.getToken(session);
  const refreshed = await client.refreshTokens(session);
  assert.ok(refreshed.refresh_token && refreshed.id_token);
  assert.notEqual(await client.getToken(session), before);
  assert.equal((await client.getUser(session)).email, 'admin@example.test');
  const logoutUrl = await client.logout(session);
  const out = await get(logoutUrl.toString());
  assert.equal(out.status, 302);
  assert.equal(out.headers.get('location'), LOGOUT);
  assert.equal(await client.isAuthenticated(session), false);
});

test('AUTHORIZATION_CODE with a client secret; register URL shows the sign-up page', async () => {
  const client = createKindeServerClient(GrantType.AUTHORIZATION_CODE, {
    ...options(),
    clientSecret: CLIENT_SECRET,
  });
  const session = new MemorySession();
  const register = await client.register(session);
  assert.match(await (await get(register.toString())).text(), /Create account/);
  const loginUrl = await client.login(session);
  await client.handleRedirectToApp(session, await browse(loginUrl, 'user@example.test'));
  assert.equal((await client.getUser(session)).email, 'user@example.test');
  assert.deepEqual((await client.getPermissions(session)).permissions, ['read:items']);
  assert.equal(await client.getBooleanFlag(session, 'dark_mode'), false);
  const tokenCalls = emu.requests.filter((r) => r.path === '/oauth2/token').map((r) => r.grantType);
  assert.ok(tokenCalls.includes('authorization_code'));
});

test('CLIENT_CREDENTIALS: the SDK obtains an M2M token', async () => {
  const client = createKindeServerClient(GrantType.CLIENT_CREDENTIALS, {
    authDomain: emu.issuerUrl,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    audience: 'api://items',
    logoutRedirectURL: LOGOUT,
  });
  const session = new MemorySession();
  const accessToken = await client.getToken(session);
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString());
  assert.deepEqual(payload.gty, ['client_credentials']);
  assert.deepEqual(payload.aud, ['api://items']);
  assert.equal(await client.isAuthenticated(session), true);
});
