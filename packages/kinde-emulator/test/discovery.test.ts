import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_CLIENT_SECRET, type Emulator, startEmulator } from '../src/index.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());

test('issuerUrl is http://127.0.0.1:<port> with no trailing slash', () => {
  assert.match(emu.issuerUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
});

test('the default client secret satisfies the Kinde SDK rule', () => {
  assert.match(DEFAULT_CLIENT_SECRET, /^[a-zA-Z0-9]{40,60}$/);
});

test('discovery document', async () => {
  const res = await fetch(`${emu.issuerUrl}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as Record<string, unknown>;
  const i = emu.issuerUrl;
  assert.equal(doc.issuer, i);
  assert.equal(doc.authorization_endpoint, `${i}/oauth2/auth`);
  assert.equal(doc.token_endpoint, `${i}/oauth2/token`);
  assert.equal(doc.userinfo_endpoint, `${i}/oauth2/v2/user_profile`);
  assert.equal(doc.end_session_endpoint, `${i}/logout`);
  assert.equal(doc.jwks_uri, `${i}/.well-known/jwks.json`);
  assert.equal(doc.revocation_endpoint, `${i}/oauth2/revoke`);
  assert.equal(doc.introspection_endpoint, `${i}/oauth2/introspect`);
  assert.deepEqual(doc.response_types_supported, ['code']);
  assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
  assert.deepEqual(doc.id_token_signing_alg_values_supported, ['RS256']);
  assert.deepEqual(doc.token_endpoint_auth_methods_supported, [
    'client_secret_post',
    'client_secret_basic',
    'none',
  ]);
  assert.deepEqual(doc.subject_types_supported, ['public']);
  assert.deepEqual(doc.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials']);
});

test('JWKS at /.well-known/jwks.json and /.well-known/jwks, logged', async () => {
  const before = emu.requests.length;
  for (const path of ['/.well-known/jwks.json', '/.well-known/jwks']) {
    const res = await fetch(`${emu.issuerUrl}${path}`);
    assert.equal(res.status, 200);
    const { keys } = (await res.json()) as { keys: Record<string, string>[] };
    assert.equal(keys.length, 1);
    const k = keys[0] as Record<string, string>;
    assert.deepEqual(Object.keys(k).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
    assert.equal(k.kty, 'RSA');
    assert.equal(k.use, 'sig');
    assert.equal(k.alg, 'RS256');
    assert.match(k.kid as string, /^[A-Za-z0-9:.]+$/);
    assert.equal(Buffer.from(k.n as string, 'base64url').length, 256);
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: k.kid, typ: 'JWT' })).toString(
      'base64url',
    );
    assert.doesNotMatch(header, /[-_]/);
  }
  const logged = emu.requests.slice(before).map((r) => r.path);
  assert.deepEqual(logged, ['/.well-known/jwks.json', '/.well-known/jwks']);
});

test('unknown paths answer a JSON 404', async () => {
  const res = await fetch(`${emu.issuerUrl}/nope`);
  assert.equal(res.status, 404);
  assert.equal(((await res.json()) as { error: string }).error, 'not_found');
});

test('a malformed URL gets a 400 in the protocol error shape', async () => {
  const res = await fetch(`${emu.issuerUrl}/account_api/v1/permission/%ZZ`);
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as { error: string }).error, 'invalid_request');
});

test('a port already in use rejects with EADDRINUSE', async () => {
  const port = Number(new URL(emu.issuerUrl).port);
  await assert.rejects(startEmulator({ port }), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
});
