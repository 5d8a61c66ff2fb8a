import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import {
  clearActiveStorage,
  exchangeAuthCode,
  frameworkSettings,
  generateAuthUrl,
  generatePortalUrl,
  getClaim,
  getClaims,
  getCurrentOrganization,
  getEntitlements,
  getFlag,
  getPermission,
  getPermissions,
  getRawToken,
  getRoles,
  getUserOrganizations,
  getUserProfile,
  has,
  isAuthenticated,
  isCustomDomain,
  MemoryStorage,
  refreshToken,
  setActiveStorage,
} from '@kinde/js-utils';
import { jwtDecoder, TokenPart } from '@kinde/jwt-decoder';
import { validateToken } from '@kinde/jwt-validator';
import { type Emulator, startEmulator } from '../src/index.js';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  get,
  parseLoginPage,
  postForm,
  REDIRECT,
  sessionCookie,
} from './helpers.js';

/**
 * Compatibility: Kinde's `@kinde/js-utils` as a server-side (Node) client, public PKCE and
 * confidential, plus `@kinde/jwt-validator` and `@kinde/jwt-decoder` on the emulator's tokens.
 * These are the calls of the README's "Recipe: js-utils in Node".
 */

let emu: Emulator;
let other: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
  other = await startEmulator({ port: 0 });
  // Without these js-utils warns on every exchange; with them it sends a `Kinde-SDK` header.
  frameworkSettings.framework = 'node-test';
  frameworkSettings.frameworkVersion = process.versions.node;
  frameworkSettings.sdkVersion = '0';
});
after(async () => {
  await emu.close();
  await other.close();
});
afterEach(() => clearActiveStorage());

const ADA = 'kp_0123456789abcdef0123456789abcdef';
const ORG = 'org_0000000001';

/** Follows a login URL through the emulator's sign-in page, picking `email`; returns the callback. */
async function signIn(url: URL, email: string): Promise<{ callback: URL; cookie: string }> {
  const page = await get(url.toString());
  assert.equal(page.status, 200, 'the login page is shown');
  const form = parseLoginPage(await page.text());
  const user = form.users.find((u) => u.text.includes(email));
  assert.ok(user, `a button for ${email}`);
  const res = await postForm(`${emu.issuerUrl}${form.action}`, { txn: form.txn, user_id: user.id });
  assert.equal(res.status, 302);
  return { callback: new URL(res.headers.get('location') ?? ''), cookie: sessionCookie(res) ?? '' };
}

async function loginUrl(): Promise<URL> {
  const { url, state, nonce, codeChallenge, codeVerifier } = await generateAuthUrl(
    emu.issuerUrl,
    // IssuerRouteTypes.login, the default: under `moduleResolution: NodeNext` the enum's type does not resolve.
    undefined,
    { clientId: CLIENT_ID, redirectURL: REDIRECT },
  );
  assert.equal(`${url.origin}${url.pathname}`, `${emu.issuerUrl}/oauth2/auth`);
  assert.equal(url.searchParams.get('redirect_uri'), REDIRECT);
  assert.equal(url.searchParams.get('scope'), 'email profile openid offline');
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(url.searchParams.get('code_challenge'), codeChallenge);
  assert.ok(state && nonce && codeVerifier.length >= 43);
  return url;
}

test('js-utils treats the emulator as a custom domain (not *.kinde.com)', () => {
  assert.equal(isCustomDomain(emu.issuerUrl), true);
  assert.equal(isCustomDomain('https://myapp.kinde.com'), false);
});

test('public PKCE client in Node: login URL, code exchange, claims, profile, permissions, flags, roles, orgs', async () => {
  setActiveStorage(new MemoryStorage());
  const { callback } = await signIn(await loginUrl(), 'admin@example.test');
  const result = await exchangeAuthCode({
    urlParams: callback.searchParams,
    domain: emu.issuerUrl,
    clientId: CLIENT_ID,
    redirectURL: REDIRECT,
  });
  assert.equal(result.success, true, String(result.error));
  assert.equal(await getRawToken(), result.accessToken);

  const claims = await getClaims();
  assert.equal(claims?.iss, emu.issuerUrl);
  assert.equal(claims?.sub, ADA);
  assert.equal((await getClaim('org_code'))?.value, ORG);
  assert.deepEqual(await getUserProfile(), {
    id: ADA,
    givenName: 'Ada',
    familyName: 'Admin',
    email: 'admin@example.test',
    picture: null,
  });
  const permissions = { orgCode: ORG, permissions: ['read:items', 'write:items', 'delete:items'] };
  assert.deepEqual(await getPermissions(), permissions);
  assert.deepEqual(await getPermissions({ forceApi: true }), permissions);
  assert.equal((await getPermission('write:items')).isGranted, true);
  assert.equal((await getPermission('admin:everything')).isGranted, false);
  assert.equal(await getFlag('dark_mode'), true);
  assert.equal(await getFlag('theme'), 'pink');
  assert.equal(await getFlag('max_items'), 5);
  assert.equal(await getFlag('missing'), null);
  assert.equal(await getFlag('theme', { forceApi: true }), 'pink');
  const roles = await getRoles();
  assert.deepEqual(
    roles.map((r: { key: string }) => r.key),
    ['admin'],
  );
  assert.deepEqual(await getRoles({ forceApi: true }), roles);
  assert.equal(await getCurrentOrganization(), ORG);
  assert.deepEqual(await getUserOrganizations(), [ORG]);
  assert.deepEqual(await getEntitlements(), { orgCode: ORG, plans: [], entitlements: [] });
  assert.equal(
    await has({
      roles: ['admin'],
      permissions: ['delete:items'],
      featureFlags: [{ flag: 'theme', value: 'pink' }],
    }),
    true,
  );
  assert.equal(await has({ permissions: ['delete:items', 'admin:everything'] }), false);
  const portal = await generatePortalUrl({ domain: emu.issuerUrl, returnUrl: 'http://127.0.0.1:3999/' });
  assert.equal(portal.url.origin, emu.issuerUrl);
});

test('public PKCE client: refresh (explicit and via isAuthenticated), logout ends the SSO session', async () => {
  const storage = new MemoryStorage();
  setActiveStorage(storage);
  const { callback, cookie } = await signIn(await loginUrl(), 'user@example.test');
  const first = await exchangeAuthCode({
    urlParams: callback.searchParams,
    domain: emu.issuerUrl,
    clientId: CLIENT_ID,
    redirectURL: REDIRECT,
  });
  assert.equal(first.success, true, String(first.error));
  assert.equal(await isAuthenticated(), true);
  // For a custom domain js-utils keeps the refresh token in the active (secure) storage.
  assert.equal(await storage.getSessionItem('refreshToken'), first.refreshToken);

  const refreshed = await refreshToken({ domain: emu.issuerUrl, clientId: CLIENT_ID });
  assert.equal(refreshed.success, true, String(refreshed.error));
  assert.notEqual(refreshed.refreshToken, first.refreshToken, 'the refresh token rotates');
  assert.equal(await getRawToken(), refreshed.accessToken);
  assert.equal(await storage.getSessionItem('refreshToken'), refreshed.refreshToken);
  assert.equal((await getUserProfile())?.email, 'user@example.test');
  assert.deepEqual((await getPermissions()).permissions, ['read:items']);
  assert.equal(await getFlag('dark_mode'), false);

  // A threshold beyond the token's lifetime makes isAuthenticated treat it as expiring: it refreshes.
  const refreshesBefore = emu.requests.filter((r) => r.grantType === 'refresh_token').length;
  const ok = await isAuthenticated({
    useRefreshToken: true,
    domain: emu.issuerUrl,
    clientId: CLIENT_ID,
    expiredThreshold: 2 * 86_400,
  });
  assert.equal(ok, true);
  assert.equal(emu.requests.filter((r) => r.grantType === 'refresh_token').length, refreshesBefore + 1);
  assert.notEqual(await storage.getSessionItem('refreshToken'), refreshed.refreshToken);

  // js-utils has no logout helper: send the browser to <issuer>/logout?redirect=...
  const logoutTo = 'http://127.0.0.1:3999/';
  const out = await get(`${emu.issuerUrl}/logout?redirect=${encodeURIComponent(logoutTo)}`, cookie);
  assert.equal(out.status, 302);
  assert.equal(out.headers.get('location'), logoutTo);
  await storage.destroySession();
  assert.equal(await isAuthenticated(), false);
  // The SSO session is gone: the next login shows the sign-in page again instead of approving at once.
  const again = await get((await loginUrl()).toString(), cookie);
  assert.equal(again.status, 200);
  assert.match(await again.text(), /user@example\.test/);
});

test('confidential client: exchange and refresh with a client secret; a wrong secret is refused', async () => {
  setActiveStorage(new MemoryStorage());
  const { callback } = await signIn(await loginUrl(), 'admin@example.test');
  const common = {
    urlParams: callback.searchParams,
    domain: emu.issuerUrl,
    clientId: CLIENT_ID,
    redirectURL: REDIRECT,
  };
  const refused = await exchangeAuthCode({ ...common, clientSecret: 'not-the-secret' });
  assert.equal(refused.success, false);
  assert.match(String(refused.error), /401/);
  const result = await exchangeAuthCode({ ...common, clientSecret: CLIENT_SECRET });
  assert.equal(result.success, true, String(result.error));
  assert.equal((await getUserProfile())?.email, 'admin@example.test');
  const badRefresh = await refreshToken({ domain: emu.issuerUrl, clientId: CLIENT_ID, clientSecret: 'nope' });
  assert.equal(badRefresh.success, false);
  const refreshed = await refreshToken({
    domain: emu.issuerUrl,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
  });
  assert.equal(refreshed.success, true, String(refreshed.error));
  assert.notEqual(refreshed.accessToken, result.accessToken);
  assert.equal(await getCurrentOrganization(), ORG);
});

test('jwt-validator and jwt-decoder on the emulator tokens', async () => {
  const { access_token, id_token } = await emu.control.issueTokens({ user: 'admin@example.test' });
  assert.deepEqual(await validateToken({ token: access_token, domain: emu.issuerUrl }), {
    valid: true,
    message: 'Token is valid',
  });
  assert.equal((await validateToken({ token: id_token, domain: emu.issuerUrl })).valid, true);

  // The validator checks the signature only (the README says so): an expired token is "valid".
  emu.control.setClockOffset(-2 * 86_400);
  const expired = (await emu.control.issueTokens({ user: 'admin@example.test' })).access_token;
  emu.control.setClockOffset(0);
  assert.ok((jwtDecoder(expired)?.exp ?? Infinity) < Date.now() / 1000);
  assert.equal((await validateToken({ token: expired, domain: emu.issuerUrl })).valid, true);

  const [h, p, s] = access_token.split('.') as [string, string, string];
  const body = JSON.parse(Buffer.from(p, 'base64url').toString());
  const forged = Buffer.from(JSON.stringify({ ...body, sub: 'kp_forged' })).toString('base64url');
  assert.equal((await validateToken({ token: `${h}.${forged}.${s}`, domain: emu.issuerUrl })).valid, false);
  const foreign = (await other.control.issueTokens({ user: 'admin@example.test' })).access_token;
  assert.equal((await validateToken({ token: foreign, domain: emu.issuerUrl })).valid, false);

  // After a key rotation the validator refetches the JWKS; the old key stays published.
  await emu.control.rotateKeys();
  const fresh = (await emu.control.issueTokens({ user: 'user@example.test' })).access_token;
  const kid = (t: string) => (jwtDecoder(t, TokenPart.header) as { kid?: string } | null)?.kid;
  assert.notEqual(kid(fresh), kid(access_token));
  assert.equal((await validateToken({ token: fresh, domain: emu.issuerUrl })).valid, true);
  assert.equal((await validateToken({ token: access_token, domain: emu.issuerUrl })).valid, true);

  const decoded = jwtDecoder<{ iss: string; sub: string; org_code: string; permissions: string[] }>(
    access_token,
  );
  assert.equal(decoded?.iss, emu.issuerUrl);
  assert.equal(decoded?.sub, ADA);
  assert.equal(decoded?.org_code, ORG);
  assert.deepEqual(decoded?.permissions, ['read:items', 'write:items', 'delete:items']);
  const header = jwtDecoder(access_token, TokenPart.header);
  assert.equal(header?.alg, 'RS256');
  assert.equal(header?.typ, 'JWT');
  assert.equal(jwtDecoder<{ email: string }>(id_token)?.email, 'admin@example.test');
  assert.equal(jwtDecoder('not-a-jwt'), null);
});
