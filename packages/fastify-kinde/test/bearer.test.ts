import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exportJWK, exportSPKI, generateKeyPair, importJWK, SignJWT } from 'jose';
import { defaultDirectory } from 'kinde-emulator';
import { HttpClient, login } from 'test-kit';
import { requireAuth, requireOrg, requirePermission } from '../src/index.js';
import { type Rig, startRig } from './setup.js';

const AUDIENCE = 'api://items';
const ORG = 'org_0000000001';
const M2M = { clientId: 'm2m_reports', clientSecret: 'M2mReportsSecret000000000000000000000000001' };

function directory() {
  const dir = defaultDirectory();
  dir.applications.push({
    name: 'Reports job',
    clientId: M2M.clientId,
    clientSecret: M2M.clientSecret,
    grants: ['client_credentials'],
    redirectUris: [],
    logoutUris: [],
    orgCode: ORG,
    permissions: ['read:items'],
  });
  return dir;
}

describe('bearer tokens', () => {
  let rig: Rig;
  const now = () => Math.floor(Date.now() / 1000);
  before(async () => {
    rig = await startRig({
      emulator: { directory: directory() },
      // The JWKS cache's windows are long, and moved past on the app's clock: real time passing on a
      // loaded machine cannot open one in the middle of a test.
      kinde: { audience: AUDIENCE, bearer: { maxAge: 60, cooldown: 30 } },
      routes(app) {
        app.get('/read', { onRequest: requirePermission('read:items') }, () => ({ ok: true }));
        app.get('/write', { onRequest: requirePermission('write:items') }, () => ({ ok: true }));
        app.get('/org', { onRequest: requireOrg(ORG) }, () => ({ ok: true }));
        app.get('/bearer-only', { onRequest: requireAuth({ auth: 'bearer' }) }, () => ({ ok: true }));
        app.get('/session-only', { onRequest: requireAuth({ auth: 'session' }) }, () => ({ ok: true }));
        app.get('/who', { onRequest: requireAuth() }, (request) => ({
          kind: request.kinde.kind,
          via: request.kinde.via,
          user: request.kinde.getUser(),
          permissions: request.kinde.getPermissions(),
        }));
      },
    });
  });
  after(() => rig.close());

  const call = async (path: string, token: string) => {
    const response = await fetch(`${rig.appUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return {
      status: response.status,
      body: await response.text(),
      challenge: response.headers.get('www-authenticate'),
    };
  };
  const userToken = async (user = 'admin@example.test') =>
    (await rig.emulator.control.issueTokens({ user, audience: [AUDIENCE] })).access_token;
  /** Signs claims with the emulator's own active key: trusted, so only the claims are wrong. */
  const forge = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) => {
    const key = rig.emulator.keys.active;
    const payload = {
      iss: rig.emulator.issuerUrl,
      aud: [AUDIENCE],
      sub: 'kp_0123',
      iat: now(),
      exp: now() + 600,
      ...claims,
    };
    return new SignJWT(payload)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header })
      .sign(key.privateKey);
  };
  const expectRefused = (
    answer: { status: number; body: string; challenge: string | null },
    reason: RegExp,
  ) => {
    assert.equal(answer.status, 401);
    assert.equal(answer.body, '{"detail":"Not authenticated"}');
    assert.match(answer.challenge ?? '', /^Bearer error="invalid_token", error_description="/);
    assert.match(answer.challenge ?? '', reason);
  };

  test("a user's access token passes the same guards as a session", async () => {
    const token = await userToken();
    const who = await call('/who', token);
    assert.equal(who.status, 200);
    const body = JSON.parse(who.body);
    assert.equal(body.kind, 'user');
    assert.equal(body.via, 'bearer');
    assert.match(body.user.id, /^kp_/);
    assert.equal((await call('/read', token)).status, 200);
    assert.equal((await call('/bearer-only', token)).status, 200);
    const sessionOnly = await call('/session-only', token);
    assert.equal(sessionOnly.status, 401);
    assert.equal(sessionOnly.challenge, null);
  });

  test('a machine token from the client-credentials grant passes requirePermission and requireOrg', async () => {
    const response = await fetch(`${rig.emulator.issuerUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: M2M.clientId,
        client_secret: M2M.clientSecret,
        audience: AUDIENCE,
      }),
    });
    const { access_token: token } = (await response.json()) as { access_token: string };
    const who = JSON.parse((await call('/who', token)).body);
    assert.equal(who.kind, 'machine');
    assert.equal(who.user, null);
    assert.deepEqual(who.permissions, { orgCode: ORG, permissions: ['read:items'] });
    assert.equal((await call('/read', token)).status, 200);
    assert.equal((await call('/org', token)).status, 200);
    const write = await call('/write', token);
    assert.equal(write.status, 403);
    assert.equal(write.body, '{"detail":"Missing permission: write:items"}');
    assert.equal(
      write.challenge,
      'Bearer error="insufficient_scope", error_description="Missing permission: write:items"',
    );
  });

  test('a session caller is refused on a bearer-only route, with a challenge that says why', async () => {
    const client = new HttpClient();
    await login(client, rig.appUrl, 'admin@example.test');
    const answer = await client.request(`${rig.appUrl}/bearer-only`);
    assert.equal(answer.status, 401);
    assert.match(answer.headers.get('www-authenticate') ?? '', /takes a bearer token/);
    const anonymous = await fetch(`${rig.appUrl}/bearer-only`);
    assert.equal(anonymous.headers.get('www-authenticate'), 'Bearer');
  });

  test('expired, not yet valid, wrong issuer and wrong audience tokens are refused', async () => {
    expectRefused(await call('/who', await forge({ exp: now() - 60 })), /expired/);
    expectRefused(await call('/who', await forge({ nbf: now() + 600 })), /not valid yet/);
    expectRefused(await call('/who', await forge({ iss: 'http://127.0.0.1:1' })), /another issuer/);
    expectRefused(await call('/who', await forge({ aud: ['api://other'] })), /audience/);
    expectRefused(await call('/who', await forge({ aud: [] })), /audience/);
    expectRefused(await call('/who', await forge({ exp: undefined })), /exp claim/);
  });

  test('alg none, HS256 signed with the public key, and a key/alg mismatch are refused', async () => {
    const key = rig.emulator.keys.active;
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const claims = { iss: rig.emulator.issuerUrl, aud: [AUDIENCE], sub: 'kp_1', exp: now() + 600 };
    expectRefused(
      await call('/who', `${b64({ alg: 'none', kid: key.kid })}.${b64(claims)}.`),
      /malformed|RS256/,
    );
    expectRefused(await call('/who', `${b64({ alg: 'none', kid: key.kid })}.${b64(claims)}.x`), /RS256/);
    const pem = await exportSPKI(key.publicKey);
    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: key.kid })
      .sign(new TextEncoder().encode(pem));
    expectRefused(await call('/who', hs256), /RS256/);
    const rs512Key = await importJWK(await exportJWK(key.privateKey), 'RS512');
    const rs512 = await new SignJWT(claims).setProtectedHeader({ alg: 'RS512', kid: key.kid }).sign(rs512Key);
    expectRefused(await call('/who', rs512), /RS256/);
  });

  test('malformed headers and truncated tokens are refused, never a 500', async () => {
    const token = await userToken();
    for (const header of [
      'Bearer',
      'Bearer ',
      'Bearer a.b',
      `Bearer ${token} extra`,
      'Bearer %%%.x.y',
      'bearer  ',
      `BEARER ${token} extra`,
      `Bearer\u00a0${token}`,
      `bEaReR \u00a0${token}`,
    ]) {
      const response = await fetch(`${rig.appUrl}/who`, { headers: { authorization: header } });
      assert.equal(response.status, 401, header);
      assert.match(response.headers.get('www-authenticate') ?? '', /invalid_token/, header);
    }
    expectRefused(await call('/who', token.slice(0, -5)), /signature|malformed/);
    expectRefused(
      await call('/who', token.replace(/\.[^.]+\./, '.eyJmb28iOiJiYXIifQ.')),
      /signature|invalid/,
    );
    const basic = await fetch(`${rig.appUrl}/who`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    assert.equal(basic.status, 401, 'another scheme is not ours: treated as no credentials');
    for (const header of [`Bearerx ${token}`, `Bearer-${token}`, `Bear ${token}`, 'Bearer'.slice(0, 5)]) {
      const other = await fetch(`${rig.appUrl}/who`, { headers: { authorization: header } });
      assert.equal(other.status, 401, header);
      assert.equal(
        other.headers.get('www-authenticate'),
        'Bearer',
        `${header}: not the Bearer scheme: anonymous, no invalid_token`,
      );
    }
    const lower = await fetch(`${rig.appUrl}/who`, { headers: { authorization: `bearer ${token}` } });
    assert.equal(lower.status, 200, 'the scheme is case-insensitive');
  });

  test('unknown kids refetch the JWKS at most once per cooldown, one fetch at a time', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const stranger = (i: number) =>
      new SignJWT({ iss: rig.emulator.issuerUrl, aud: [AUDIENCE], sub: `kp_${i}`, exp: now() + 600 })
        .setProtectedHeader({ alg: 'RS256', kid: `unknown:${i}` })
        .sign(privateKey);
    const fetches = () => rig.emulator.requests.filter((r) => r.path.startsWith('/.well-known/jwks')).length;
    await call('/who', await userToken());
    rig.clock.advance(30_001); // past the cooldown (the key set is not stale yet: maxAge is 60 s)
    const before = fetches();
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => stranger(i)));
    const answers = await Promise.all(tokens.map((t) => call('/who', t)));
    for (const answer of answers) expectRefused(answer, /unknown key/);
    assert.equal(fetches(), before + 1, 'twenty unknown kids at once: one fetch');
    for (const answer of await Promise.all(tokens.map((t) => call('/who', t))))
      expectRefused(answer, /unknown key/);
    assert.equal(fetches(), before + 1, 'within the cooldown: no fetch');
  });

  test('a token from a rotated-out key is refused once the JWKS no longer has it', async () => {
    const old = await userToken();
    assert.equal((await call('/who', old)).status, 200);
    await rig.emulator.control.rotateKeys();
    rig.emulator.control.advanceClock(86_400 + 3_600 + 10);
    await rig.emulator.control.rotateKeys();
    rig.emulator.control.setClockOffset(0);
    // The key set ages past maxAge: the next request starts a background refetch that drops the old key.
    rig.clock.advance(60_001);
    const deadline = Date.now() + 5_000;
    let status = 200;
    while (status === 200 && Date.now() < deadline) {
      status = (await call('/who', old)).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 10)); // the refetch is under way
    }
    expectRefused(await call('/who', old), /unknown key/);
    assert.equal((await call('/who', await userToken())).status, 200, 'a token of the new key passes');
  });

  test('with the provider down, tokens whose key is cached still pass without waiting', async () => {
    const token = await userToken();
    assert.equal((await call('/who', token)).status, 200);
    const fresh = await userToken('user@example.test');
    rig.emulator.control.failEndpoint('jwks', { mode: 'down' });
    try {
      rig.clock.advance(60_001); // the key set is stale: its refetch (failing) runs in the background
      const started = Date.now();
      assert.equal((await call('/who', token)).status, 200);
      assert.equal((await call('/who', fresh)).status, 200, 'never-seen token, cached key');
      assert.ok(Date.now() - started < 1_000, 'no request waited for the provider');
    } finally {
      rig.emulator.control.clearFailures();
    }
  });
});
