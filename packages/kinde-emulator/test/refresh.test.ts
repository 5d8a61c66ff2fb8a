import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import { type Emulator, startEmulator } from '../src/index.js';
import { baseAuthParams, basic, CLIENT_ID, CLIENT_SECRET, exchangeCode, login, token } from './helpers.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0, accessTokenTtl: 60, refreshGraceSeconds: 5 });
});
after(() => emu.close());

async function tokens(scope = 'openid profile email offline') {
  const r = await login(emu, 'user@example.test', baseAuthParams({ scope }));
  const res = await exchangeCode(emu, r.code);
  assert.equal(res.status, 200);
  return res.body;
}

test('no offline → no refresh token; no openid → no id token', async () => {
  const b = await tokens('profile email');
  assert.equal(b.refresh_token, undefined);
  assert.equal(b.id_token, undefined);
  assert.equal(b.expires_in, 60);
});

test('refresh rotates, returns new refresh and id tokens, and honours the grace window', async () => {
  const first = await tokens();
  const refresh = (rt: unknown) =>
    token(emu, { grant_type: 'refresh_token', refresh_token: String(rt), client_id: CLIENT_ID });
  const second = await refresh(first.refresh_token);
  assert.equal(second.status, 200);
  assert.notEqual(second.body.refresh_token, first.refresh_token);
  assert.equal(typeof second.body.id_token, 'string');
  assert.equal(typeof second.body.access_token, 'string');
  assert.equal(emu.requests.filter((r) => r.grantType === 'refresh_token').length >= 1, true);
  // Within the grace window, the previous token still works (concurrent refreshes).
  emu.clock.advance(3);
  const concurrent = await refresh(first.refresh_token);
  assert.equal(concurrent.status, 200);
  // After the window, reusing it is refused and revokes the whole family.
  emu.clock.advance(10);
  const reuse = await refresh(first.refresh_token);
  assert.equal(reuse.status, 400);
  assert.equal(reuse.body.error, 'invalid_grant');
  const familyGone = await refresh(second.body.refresh_token);
  assert.equal(familyGone.body.error, 'invalid_grant');
  emu.clock.offsetSeconds = 0;
});

test('refresh with a secret (basic) and errors', async () => {
  const first = await tokens();
  const ok = await token(
    emu,
    { grant_type: 'refresh_token', refresh_token: String(first.refresh_token) },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  assert.equal(ok.status, 200);
  const id = decodeJwt(String(ok.body.id_token));
  assert.equal(id.email, 'user@example.test');
  const bogus = await token(emu, {
    grant_type: 'refresh_token',
    refresh_token: 'nope',
    client_id: CLIENT_ID,
  });
  assert.equal(bogus.body.error, 'invalid_grant');
  const missing = await token(emu, { grant_type: 'refresh_token', client_id: CLIENT_ID });
  assert.equal(missing.body.error, 'invalid_request');
});

test('expired access token is detected by exp; refresh still works', async () => {
  const first = await tokens();
  emu.clock.advance(61);
  const jwks = createRemoteJWKSet(new URL(`${emu.issuerUrl}/.well-known/jwks.json`));
  const currentDate = new Date(emu.clock.now() * 1000);
  await assert.rejects(jwtVerify(String(first.access_token), jwks, { currentDate }), /exp/);
  const next = await token(emu, {
    grant_type: 'refresh_token',
    refresh_token: String(first.refresh_token),
    client_id: CLIENT_ID,
  });
  assert.equal(next.status, 200);
  const payload = decodeJwt(String(next.body.access_token));
  assert.ok((payload.exp as number) > Math.floor(Date.now() / 1000) + 60);
  emu.clock.offsetSeconds = 0;
});

test('client_credentials issues an M2M token with gty, aud, scope, scp', async () => {
  const res = await fetch(`${emu.issuerUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `grant_type=client_credentials&client_id=${CLIENT_ID}&client_secret=${CLIENT_SECRET}&scope=read%20write&audience=api://a&audience=api://b`,
  });
  assert.equal(res.status, 200);
  const b = (await res.json()) as Record<string, unknown>;
  assert.equal(b.id_token, undefined);
  assert.equal(b.refresh_token, undefined);
  assert.equal(b.token_type, 'bearer');
  assert.equal(b.scope, 'read write');
  const jwks = createRemoteJWKSet(new URL(`${emu.issuerUrl}/.well-known/jwks`));
  const { payload } = await jwtVerify(String(b.access_token), jwks, {
    issuer: emu.issuerUrl,
    audience: 'api://b',
  });
  assert.deepEqual(payload.gty, ['client_credentials']);
  assert.deepEqual(payload.aud, ['api://a', 'api://b']);
  assert.equal(payload.scope, 'read write');
  assert.deepEqual(payload.scp, ['read', 'write']);
  assert.equal(payload.v, '2');
  assert.equal(payload.azp, CLIENT_ID);
  const noSecret = await token(emu, { grant_type: 'client_credentials', client_id: CLIENT_ID });
  assert.equal(noSecret.status, 401);
  assert.equal(noSecret.body.error, 'invalid_client');
});

test('reuseAccessTokenOnRefresh: like Kinde, a refresh returns the unexpired access token', async () => {
  const kindeLike = await startEmulator({ reuseAccessTokenOnRefresh: true, accessTokenTtl: 100 });
  try {
    const r = await login(kindeLike, 'user@example.test', baseAuthParams());
    const first = await exchangeCode(kindeLike, r.code);
    kindeLike.clock.advance(30);
    const refresh = (rt: unknown) =>
      token(kindeLike, { grant_type: 'refresh_token', refresh_token: String(rt), client_id: CLIENT_ID });
    const second = await refresh(first.body.refresh_token);
    assert.equal(second.body.access_token, first.body.access_token);
    assert.ok(Math.abs((second.body.expires_in as number) - 70) <= 1);
    assert.notEqual(second.body.refresh_token, first.body.refresh_token);
    assert.equal(typeof second.body.id_token, 'string');
    kindeLike.clock.advance(80);
    const third = await refresh(second.body.refresh_token);
    assert.notEqual(third.body.access_token, first.body.access_token);
    assert.equal(third.body.expires_in, 100);
  } finally {
    await kindeLike.close();
  }
});
