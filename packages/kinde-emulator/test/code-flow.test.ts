import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { type Emulator, startEmulator } from '../src/index.js';
import { atHash } from '../src/tokens.js';
import {
  authUrl,
  baseAuthParams,
  basic,
  CLIENT_ID,
  CLIENT_SECRET,
  get,
  login,
  parseLoginPage,
  pkcePair,
  REDIRECT,
  token,
} from './helpers.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());

test('login page lists every user with name and email in a POST form', async () => {
  const res = await get(authUrl(emu, baseAuthParams()));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  const html = await res.text();
  assert.match(html, /<h1>Sign in<\/h1>/);
  const form = parseLoginPage(html);
  assert.equal(form.action, '/oauth2/auth/login');
  assert.equal(form.users.length, 2);
  assert.ok(form.users[0]?.text.includes('Ada Admin') && form.users[0].text.includes('admin@example.test'));
  assert.ok(form.users[1]?.text.includes('Uma User') && form.users[1].text.includes('user@example.test'));
});

test('sign-up variant for prompt=create and start_page=registration', async () => {
  for (const extra of [{ prompt: 'create' }, { start_page: 'registration' }]) {
    const html = await (await get(authUrl(emu, baseAuthParams(extra)))).text();
    assert.match(html, /<h1>Create account<\/h1>/);
    assert.match(html, /name="email" type="email"/);
  }
});

test('full code + PKCE flow: tokens verify against the JWKS with Kinde claims', async () => {
  const { verifier, challenge } = pkcePair();
  const state = 'a b+c/%&=state';
  const r = await login(emu, 'admin@example.test', {
    ...baseAuthParams({ state, nonce: 'n-0S6', code_challenge: challenge, code_challenge_method: 'S256' }),
    audience: ['api://items', 'api://a api://b'],
  });
  assert.equal(`${r.callback.origin}${r.callback.pathname}`, REDIRECT);
  assert.equal(r.callback.searchParams.get('state'), state);
  assert.equal(r.callback.searchParams.get('scope'), 'openid profile email offline');
  assert.ok(r.cookie?.startsWith('kinde_emu_session='));
  const res = await token(emu, {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    code: r.code,
    code_verifier: verifier,
    redirect_uri: REDIRECT,
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const b = res.body;
  assert.equal(b.token_type, 'bearer');
  assert.equal(b.expires_in, 86400);
  assert.equal(b.scope, 'openid profile email offline');
  assert.equal(typeof b.refresh_token, 'string');
  const jwks = createRemoteJWKSet(new URL(`${emu.issuerUrl}/.well-known/jwks.json`));
  const at = await jwtVerify(b.access_token as string, jwks, {
    issuer: emu.issuerUrl,
    algorithms: ['RS256'],
  });
  assert.equal(decodeProtectedHeader(b.access_token as string).typ, 'JWT');
  const a = at.payload;
  assert.equal(a.sub, 'kp_0123456789abcdef0123456789abcdef');
  assert.deepEqual(a.aud, ['api://items', 'api://a', 'api://b']);
  assert.equal(a.azp, CLIENT_ID);
  assert.deepEqual(a.scp, ['openid', 'profile', 'email', 'offline']);
  assert.equal(a.org_code, 'org_0000000001');
  assert.equal(a.org_name, 'Default Org');
  assert.deepEqual(a.permissions, ['read:items', 'write:items', 'delete:items']);
  assert.deepEqual(a.roles, [{ id: '018ee9aa-0000-7000-8000-000000000001', key: 'admin', name: 'Admin' }]);
  assert.deepEqual(a.feature_flags, {
    dark_mode: { t: 'b', v: true },
    max_items: { t: 'i', v: 5 },
    theme: { t: 's', v: 'pink' },
  });
  assert.equal(a.v, '2');
  assert.match(a.jti as string, /^[0-9a-f-]{36}$/);
  assert.equal((a.exp as number) - (a.iat as number), 86400);
  const id = (await jwtVerify(b.id_token as string, jwks, { issuer: emu.issuerUrl, audience: CLIENT_ID }))
    .payload;
  assert.deepEqual(id.aud, [CLIENT_ID]);
  assert.equal(id.azp, CLIENT_ID);
  assert.equal(id.nonce, 'n-0S6');
  assert.equal(id.at_hash, atHash(b.access_token as string));
  assert.equal(id.email, 'admin@example.test');
  assert.equal(id.email_verified, true);
  assert.equal(id.given_name, 'Ada');
  assert.equal(id.family_name, 'Admin');
  assert.equal(id.name, 'Ada Admin');
  assert.equal(id.picture, null);
  assert.deepEqual(id.org_codes, ['org_0000000001']);
  assert.deepEqual(id.organizations, [{ id: 'org_0000000001', name: 'Default Org' }]);
  assert.equal((id.exp as number) - (id.iat as number), 3600);
  for (const c of ['auth_time', 'updated_at', 'rat', 'jti']) assert.ok(id[c] !== undefined, c);
  const logged = emu.requests.filter((q) => q.path === '/oauth2/token').at(-1);
  assert.equal(logged?.grantType, 'authorization_code');
});

test('at_hash is the left half of SHA-256, base64url', () => {
  assert.equal(atHash('abc'), 'ungWv48Bz-pBQUDeXa4iIw');
});

async function pkceCode(email = 'user@example.test', extra = {}) {
  const pair = pkcePair();
  const r = await login(emu, email, {
    ...baseAuthParams({ code_challenge: pair.challenge, code_challenge_method: 'S256', ...extra }),
  });
  return { ...pair, code: r.code };
}

test('wrong verifier, reused code, wrong redirect_uri → invalid_grant', async () => {
  const c = await pkceCode();
  const base = {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    code: c.code,
    redirect_uri: REDIRECT,
  };
  const wrong = await token(emu, { ...base, code_verifier: pkcePair().verifier });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.error, 'invalid_grant');
  assert.equal(typeof wrong.body.error_description, 'string');
  const c2 = await pkceCode();
  const ok = { ...base, code: c2.code, code_verifier: c2.verifier };
  assert.equal(
    (await token(emu, { ...ok, redirect_uri: 'http://127.0.0.1:3999/other' })).body.error,
    'invalid_grant',
  );
  assert.equal((await token(emu, ok)).status, 200);
  const again = await token(emu, ok);
  assert.equal(again.status, 400);
  assert.equal(again.body.error, 'invalid_grant');
  assert.equal(
    (await token(emu, { ...base, code: 'nope', code_verifier: c2.verifier })).body.error,
    'invalid_grant',
  );
  const noVerifier = await pkceCode();
  assert.equal((await token(emu, { ...base, code: noVerifier.code })).body.error, 'invalid_grant');
});

test('confidential client: client_secret_post and client_secret_basic; no secret and no PKCE → invalid_client', async () => {
  const flow = async () => (await login(emu, 'user@example.test', baseAuthParams())).code;
  const post = await token(emu, {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    code: await flow(),
    redirect_uri: REDIRECT,
    code_verifier: '',
  });
  assert.equal(post.status, 200);
  const viaBasic = await token(
    emu,
    { grant_type: 'authorization_code', code: await flow(), redirect_uri: REDIRECT },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  assert.equal(viaBasic.status, 200);
  const none = await token(emu, {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    code: await flow(),
    redirect_uri: REDIRECT,
  });
  assert.equal(none.status, 401);
  assert.equal(none.body.error, 'invalid_client');
  const badSecret = await token(emu, { grant_type: 'client_credentials' }, basic(CLIENT_ID, 'x'.repeat(45)));
  assert.equal(badSecret.status, 401);
  assert.equal(badSecret.body.error, 'invalid_client');
  const unknown = await token(emu, {
    grant_type: 'client_credentials',
    client_id: 'nobody',
    client_secret: 'x',
  });
  assert.equal(unknown.status, 401);
});

test('token endpoint errors: grant types and malformed requests', async () => {
  const unsupported = await token(emu, { grant_type: 'password', client_id: CLIENT_ID });
  assert.equal(unsupported.status, 400);
  assert.equal(unsupported.body.error, 'unsupported_grant_type');
  const missing = await token(emu, { client_id: CLIENT_ID });
  assert.equal(missing.body.error, 'invalid_request');
  const noCode = await token(emu, { grant_type: 'authorization_code', client_id: CLIENT_ID });
  assert.equal(noCode.body.error, 'invalid_request');
  const text = await fetch(`${emu.issuerUrl}/oauth2/token`, {
    method: 'POST',
    body: 'x',
    headers: { 'content-type': 'application/xml' },
  });
  assert.equal(text.status, 415);
  assert.equal(((await text.json()) as { error: string }).error, 'invalid_request');
  const empty = await fetch(`${emu.issuerUrl}/oauth2/token`, { method: 'POST' });
  assert.equal(empty.status, 400);
  const repeated = await fetch(`${emu.issuerUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&grant_type=refresh_token',
  });
  assert.equal(repeated.status, 400);
  assert.equal(((await repeated.json()) as { error: string }).error, 'invalid_request');
});

test('authorize: unknown client and unregistered redirect get an HTML error page, never a redirect', async () => {
  const unknown = await get(authUrl(emu, baseAuthParams({ client_id: 'nobody' })));
  assert.equal(unknown.status, 400);
  assert.match(await unknown.text(), /Unknown application/);
  const evil = await get(authUrl(emu, baseAuthParams({ redirect_uri: 'https://evil.example/cb' })));
  assert.equal(evil.status, 400);
  assert.equal(evil.headers.get('location'), null);
  assert.match(evil.headers.get('content-type') ?? '', /text\/html/);
  const none = await get(authUrl(emu, baseAuthParams({ redirect_uri: undefined })));
  assert.equal(none.status, 400);
});

test('authorize: response_type and PKCE plain are redirected as errors with state', async () => {
  const rt = await get(authUrl(emu, baseAuthParams({ response_type: 'token' })));
  assert.equal(rt.status, 302);
  const loc = new URL(rt.headers.get('location') ?? '');
  assert.equal(loc.searchParams.get('error'), 'unsupported_response_type');
  assert.equal(loc.searchParams.get('state'), 'st-123');
  const plain = await get(
    authUrl(emu, baseAuthParams({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' })),
  );
  assert.equal(new URL(plain.headers.get('location') ?? '').searchParams.get('error'), 'invalid_request');
});
