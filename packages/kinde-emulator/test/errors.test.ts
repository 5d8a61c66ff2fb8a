import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defaultDirectory, type Emulator, startEmulator } from '../src/index.js';
import {
  authUrl,
  baseAuthParams,
  basic,
  CLIENT_ID,
  CLIENT_SECRET,
  get,
  login,
  pkcePair,
  REDIRECT,
  token,
} from './helpers.js';

/** Error paths of /oauth2/auth and /oauth2/token not covered by the happy-path suites. */

const SPA = 'spa_client';
const M2M = 'm2m_client';
const M2M_SECRET = 'M2mSecret0000000000000000000000000000000001';
let emu: Emulator;

before(async () => {
  const directory = defaultDirectory();
  directory.applications.push(
    { name: 'SPA', clientId: SPA, grants: ['authorization_code'], redirectUris: [REDIRECT], logoutUris: [] },
    {
      name: 'M2M only',
      clientId: M2M,
      clientSecret: M2M_SECRET,
      grants: ['client_credentials'],
      redirectUris: [REDIRECT],
      logoutUris: [],
      audiences: ['api://allowed'],
    },
  );
  emu = await startEmulator({ directory, refreshTokenTtl: 100 });
});
after(() => emu.close());

function redirectedError(res: Response): string | null {
  return new URL(res.headers.get('location') ?? 'http://x/').searchParams.get('error');
}

test('authorize: a client without the code grant → unauthorized_client (redirected)', async () => {
  const res = await get(authUrl(emu, baseAuthParams({ client_id: M2M })));
  assert.equal(res.status, 302);
  assert.equal(redirectedError(res), 'unauthorized_client');
  const spaOk = await get(authUrl(emu, baseAuthParams({ client_id: SPA })));
  assert.equal(spaOk.status, 200);
});

test('authorize: challenge without S256 method, malformed challenge, repeated params', async () => {
  const noMethod = await get(authUrl(emu, baseAuthParams({ code_challenge: pkcePair().challenge })));
  assert.equal(redirectedError(noMethod), 'invalid_request');
  const short = await get(
    authUrl(emu, baseAuthParams({ code_challenge: 'abc', code_challenge_method: 'S256' })),
  );
  assert.equal(redirectedError(short), 'invalid_request');
  const twice = await get(authUrl(emu, { ...baseAuthParams(), client_id: [CLIENT_ID, CLIENT_ID] }));
  assert.equal(twice.status, 400);
  assert.match(twice.headers.get('content-type') ?? '', /text\/html/);
  const twiceNonce = await get(authUrl(emu, { ...baseAuthParams(), nonce: ['a', 'b'] }));
  assert.equal(redirectedError(twiceNonce), 'invalid_request');
});

test('token: code expired, code of another client, verifier without a challenge', async () => {
  const r1 = await login(emu, 'user@example.test', baseAuthParams());
  emu.clock.advance(61);
  const expired = await token(
    emu,
    { grant_type: 'authorization_code', code: r1.code, redirect_uri: REDIRECT },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  emu.clock.offsetSeconds = 0;
  assert.equal(expired.body.error, 'invalid_grant');
  assert.match(String(expired.body.error_description), /expired/);
  const pair = pkcePair();
  const r2 = await login(
    emu,
    'user@example.test',
    baseAuthParams({ code_challenge: pair.challenge, code_challenge_method: 'S256' }),
  );
  const other = await token(emu, {
    grant_type: 'authorization_code',
    client_id: SPA,
    code: r2.code,
    code_verifier: pair.verifier,
    redirect_uri: REDIRECT,
  });
  assert.equal(other.body.error, 'invalid_grant');
  assert.match(String(other.body.error_description), /another client/);
  const r3 = await login(emu, 'user@example.test', baseAuthParams());
  const downgrade = await token(
    emu,
    { grant_type: 'authorization_code', code: r3.code, code_verifier: pair.verifier, redirect_uri: REDIRECT },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  assert.equal(downgrade.body.error, 'invalid_grant');
});

test('token: grant not allowed → unauthorized_client; audience not allowed → invalid_target', async () => {
  const cc = await token(emu, { grant_type: 'client_credentials' }, basic(M2M, M2M_SECRET));
  assert.equal(cc.status, 200);
  const code = await token(
    emu,
    { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT },
    basic(M2M, M2M_SECRET),
  );
  assert.equal(code.status, 400);
  assert.equal(code.body.error, 'unauthorized_client');
  const target = await token(
    emu,
    { grant_type: 'client_credentials', audience: 'api://other' },
    basic(M2M, M2M_SECRET),
  );
  assert.equal(target.status, 400);
  assert.equal(target.body.error, 'invalid_target');
  const spa = await token(emu, { grant_type: 'refresh_token', client_id: SPA, refresh_token: 'x' });
  assert.equal(spa.body.error, 'unauthorized_client');
});

test('token: Basic plus client_secret, mismatched client_id, malformed Basic', async () => {
  const both = await token(
    emu,
    { grant_type: 'client_credentials', client_secret: CLIENT_SECRET },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  assert.equal(both.status, 400);
  assert.equal(both.body.error, 'invalid_request');
  const mismatch = await token(
    emu,
    { grant_type: 'client_credentials', client_id: SPA },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  assert.equal(mismatch.body.error, 'invalid_request');
  const malformed = await token(emu, { grant_type: 'client_credentials' }, { authorization: 'Basic !!!' });
  assert.equal(malformed.status, 401);
  assert.equal(malformed.body.error, 'invalid_client');
  assert.match(malformed.headers.get('www-authenticate') ?? '', /^Basic/);
  const spaSecret = await token(emu, {
    grant_type: 'authorization_code',
    client_id: SPA,
    client_secret: CLIENT_SECRET,
  });
  assert.equal(spaSecret.status, 401);
});

test('refresh: expired refresh token, and a refresh token of another client', async () => {
  const r = await login(emu, 'user@example.test', baseAuthParams());
  const t = await token(
    emu,
    { grant_type: 'authorization_code', code: r.code, redirect_uri: REDIRECT },
    basic(CLIENT_ID, CLIENT_SECRET),
  );
  const rt = String(t.body.refresh_token);
  const other = await token(emu, { grant_type: 'refresh_token', refresh_token: rt }, basic(M2M, M2M_SECRET));
  assert.equal(other.body.error, 'unauthorized_client');
  emu.clock.advance(101);
  const expired = await token(emu, { grant_type: 'refresh_token', refresh_token: rt, client_id: CLIENT_ID });
  emu.clock.offsetSeconds = 0;
  assert.equal(expired.body.error, 'invalid_grant');
});

test('logout: a client_id limits the allowed URLs to that application', async () => {
  const ok = await get(
    `${emu.issuerUrl}/logout?client_id=${CLIENT_ID}&post_logout_redirect_uri=${encodeURIComponent('http://127.0.0.1:1/')}&state=s1`,
  );
  assert.equal(ok.status, 302);
  assert.equal(ok.headers.get('location'), 'http://127.0.0.1:1/?state=s1');
  const spa = await get(
    `${emu.issuerUrl}/logout?client_id=${SPA}&redirect=${encodeURIComponent('http://127.0.0.1:1/')}`,
  );
  assert.equal(spa.status, 400);
  const twice = await get(`${emu.issuerUrl}/logout?redirect=a&redirect=b`);
  assert.equal(twice.status, 400);
});
