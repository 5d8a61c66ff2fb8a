import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Emulator, startEmulator } from '../src/index.js';
import {
  baseAuthParams,
  basic,
  CLIENT_ID,
  CLIENT_SECRET,
  login,
  pkcePair,
  postForm,
  REDIRECT,
  token,
} from './helpers.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());

async function userTokens() {
  const r = await login(emu, 'admin@example.test', baseAuthParams());
  const res = await token(
    emu,
    { grant_type: 'authorization_code', code: r.code, redirect_uri: REDIRECT },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  return { code: r.code, ...res.body } as Record<string, string>;
}

async function introspect(tokenValue: string, headers = basic(CLIENT_ID, CLIENT_SECRET)) {
  const res = await postForm(`${emu.issuerUrl}/oauth2/introspect`, { token: tokenValue }, headers);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('introspect: access and refresh tokens are active, garbage is not; callers must authenticate', async () => {
  const t = await userTokens();
  const at = await introspect(t.access_token as string);
  assert.equal(at.status, 200);
  assert.equal(at.body.active, true);
  assert.equal(at.body.client_id, CLIENT_ID);
  assert.deepEqual(at.body.aud, []);
  assert.equal(typeof at.body.exp, 'number');
  assert.equal(typeof at.body.iat, 'number');
  assert.equal((await introspect(t.refresh_token as string)).body.active, true);
  assert.deepEqual((await introspect('garbage')).body, { active: false });
  const m2m = String(
    (
      await token(emu, {
        grant_type: 'client_credentials',
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
      })
    ).body.access_token,
  );
  assert.equal(
    (await introspect(t.access_token as string, { authorization: `Bearer ${m2m}` })).body.active,
    true,
  );
  const anon = await postForm(`${emu.issuerUrl}/oauth2/introspect`, { token: 'x', client_id: CLIENT_ID });
  assert.equal(anon.status, 401);
});

test('revoke: refresh token family and access token; 200 with no body, even for unknown tokens', async () => {
  const t = await userTokens();
  const rev = await postForm(`${emu.issuerUrl}/oauth2/revoke`, {
    token: t.refresh_token as string,
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  assert.equal(rev.status, 200);
  assert.equal(await rev.text(), '');
  const refreshed = await token(emu, {
    grant_type: 'refresh_token',
    refresh_token: t.refresh_token as string,
    client_id: CLIENT_ID,
  });
  assert.equal(refreshed.body.error, 'invalid_grant');
  await postForm(`${emu.issuerUrl}/oauth2/revoke`, { token: t.access_token as string, client_id: CLIENT_ID });
  const profile = await fetch(`${emu.issuerUrl}/oauth2/v2/user_profile`, {
    headers: { authorization: `Bearer ${t.access_token}` },
  });
  assert.equal(profile.status, 401);
  assert.equal((await introspect(t.access_token as string)).body.active, false);
  const unknown = await postForm(`${emu.issuerUrl}/oauth2/revoke`, {
    token: 'whatever',
    client_id: CLIENT_ID,
  });
  assert.equal(unknown.status, 200);
  const wrongSecret = await postForm(`${emu.issuerUrl}/oauth2/revoke`, {
    token: 'x',
    client_id: CLIENT_ID,
    client_secret: 'nope',
  });
  assert.equal(wrongSecret.status, 401);
});

test('revoking a refresh token ends its whole family: the rotated successor fails too (as fastify-kinde logout relies on)', async () => {
  const t = await userTokens();
  const rotated = await token(
    emu,
    { grant_type: 'refresh_token', refresh_token: t.refresh_token as string },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  assert.equal(rotated.status, 200);
  const successor = String(rotated.body.refresh_token);
  assert.notEqual(successor, t.refresh_token);
  // The hint is only a hint (RFC 7009 2.1): a wrong one still revokes.
  const rev = await postForm(
    `${emu.issuerUrl}/oauth2/revoke`,
    { token: t.refresh_token as string, token_type_hint: 'access_token' },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  assert.equal(rev.status, 200);
  const refreshed = await token(
    emu,
    { grant_type: 'refresh_token', refresh_token: successor },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  assert.equal(refreshed.body.error, 'invalid_grant');
  assert.equal((await introspect(successor)).body.active, false);
  const missing = await postForm(`${emu.issuerUrl}/oauth2/revoke`, {}, basic(CLIENT_ID, CLIENT_SECRET));
  assert.equal(missing.status, 400);
});

test('failure injection covers /oauth2/revoke: a 503 in the protocol shape, and nothing revoked', async () => {
  const t = await userTokens();
  emu.control.failEndpoint('revoke', { mode: 'down', count: 1 });
  const down = await postForm(
    `${emu.issuerUrl}/oauth2/revoke`,
    { token: t.refresh_token as string },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  assert.equal(down.status, 503);
  assert.equal(((await down.json()) as { error: string }).error, 'temporarily_unavailable');
  assert.equal((await introspect(t.refresh_token as string)).body.active, true);
});

test('replaying an authorization code revokes the refresh tokens it produced', async () => {
  const pair = pkcePair();
  const r = await login(
    emu,
    'user@example.test',
    baseAuthParams({ code_challenge: pair.challenge, code_challenge_method: 'S256' }),
  );
  const form = {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    code: r.code,
    code_verifier: pair.verifier,
    redirect_uri: REDIRECT,
  };
  const first = await token(emu, form);
  assert.equal(first.status, 200);
  assert.equal((await token(emu, form)).body.error, 'invalid_grant');
  const refresh = await token(emu, {
    grant_type: 'refresh_token',
    refresh_token: String(first.body.refresh_token),
    client_id: CLIENT_ID,
  });
  assert.equal(refresh.body.error, 'invalid_grant');
});
