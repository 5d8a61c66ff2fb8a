import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { startEmulator } from 'kinde-emulator';
import fastifyKinde, {
  type KindeOptions,
  requireAuth,
  requireFlag,
  requireOrg,
  requirePermission,
  requireRole,
} from '../src/index.js';
import { connectKindeTest, type KindeTestKit, startKindeTest, testClock } from '../src/testing/index.js';

async function buildApp(options: KindeOptions): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(fastifyKinde, options);
  app.get('/admin', { onRequest: requirePermission('delete:items') }, () => ({ ok: true }));
  app.get('/audit', { onRequest: requireRole('auditor') }, () => ({ ok: true }));
  app.get('/beta', { onRequest: requireFlag('beta') }, () => ({ ok: true }));
  app.get('/acme', { onRequest: requireOrg('org_acme') }, () => ({ ok: true }));
  app.get('/me', { onRequest: requireAuth() }, (request) => ({
    kind: request.kinde.kind,
    via: request.kinde.via,
    user: request.kinde.getUser(),
    org: request.kinde.getOrganization()?.orgCode ?? null,
    permissions: request.kinde.getPermissions().permissions,
    token: request.kinde.getAccessToken(),
  }));
  return app;
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
}

// At the top level, so that node:test's `after` closes the emulator when this file's tests end.
const kit: KindeTestKit = await startKindeTest({ after });

describe('fastify-kinde/testing with an in-process emulator', () => {
  let app: FastifyInstance;
  const clock = testClock();
  const get = (url: string, headers: Record<string, string>) => app.inject({ url, headers });
  before(async () => {
    app = await buildApp(kit.options({ clock }));
  });
  after(() => app.close());

  test('the emulator listens on a random port of 127.0.0.1', () => {
    assert.match(kit.issuerUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(kit.issuerUrl).port, '8001');
  });

  test('signIn goes through the login route, /oauth2/auth and the callback, and the cookie works', async () => {
    await kit.clearRequests();
    const cookie = await kit.signIn(app, { email: 'admin@example.test' });
    assert.match(cookie, /^kinde_session=[^;]+$/);
    const log = (await kit.requests()).map((r) => `${r.method} ${r.path} ${r.grantType ?? ''}`.trim());
    assert.ok(log.includes('GET /oauth2/auth'), log.join(', '));
    assert.ok(log.includes('POST /oauth2/token authorization_code'), log.join(', '));
    const me = (await get('/me', { cookie })).json();
    assert.equal(me.via, 'session');
    assert.equal(me.user.email, 'admin@example.test');
    assert.equal((await get('/admin', { cookie })).statusCode, 200);
    const uma = await kit.signIn(app, { email: 'user@example.test' });
    assert.equal((await get('/admin', { cookie: uma })).statusCode, 403);
  });

  test('the cookie works over real HTTP too', async () => {
    const served = await buildApp(kit.options());
    await served.listen({ port: 0, host: '127.0.0.1' });
    try {
      const cookie = await kit.signIn(served, { permissions: ['delete:items'] });
      const address = served.server.address() as { port: number };
      const response = await fetch(`http://127.0.0.1:${address.port}/admin`, { headers: { cookie } });
      assert.equal(response.status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${address.port}/admin`)).status, 401);
    } finally {
      await served.close();
    }
  });

  test('permissions, roles, flags and org are what the session holds', async () => {
    const cookie = await kit.signIn(app, {
      permissions: ['delete:items'],
      roles: ['auditor'],
      flags: { beta: true },
      org: 'org_acme',
    });
    for (const path of ['/admin', '/audit', '/beta', '/acme']) {
      assert.equal((await get(path, { cookie })).statusCode, 200, path);
    }
    const me = (await get('/me', { cookie })).json();
    assert.equal(me.org, 'org_acme');
    assert.deepEqual(me.permissions, ['delete:items']);
    assert.match(me.user.email, /^test-[0-9a-f]{12}@example\.test$/);
    const plain = await kit.signIn(app);
    for (const path of ['/admin', '/audit', '/beta', '/acme']) {
      assert.equal((await get(path, { cookie: plain })).statusCode, 403, path);
    }
  });

  test('an existing user with other grants, and a user created from { user }', async () => {
    const cookie = await kit.signIn(app, { email: 'user@example.test', permissions: ['delete:items'] });
    assert.equal((await get('/admin', { cookie })).statusCode, 200);
    const eve = await kit.signIn(app, { user: { email: 'eve@example.test', givenName: 'Eve' } });
    const me = (await get('/me', { cookie: eve })).json();
    assert.equal(me.user.email, 'eve@example.test');
    assert.equal(me.user.given_name, 'Eve');
    assert.equal((await get('/admin', { cookie: eve })).statusCode, 403);
  });

  test('bearerFor: accepted by default (no aud, azp = the app), refused for another audience', async () => {
    const token = await kit.bearerFor({ permissions: ['delete:items'] });
    const claims = claimsOf(token);
    assert.deepEqual(claims.aud, []);
    assert.equal(claims.azp, kit.clientId);
    const authorization = `Bearer ${token}`;
    assert.equal((await get('/admin', { authorization })).statusCode, 200);
    assert.equal((await get('/me', { authorization })).json().via, 'bearer');
    const other = await kit.bearerFor({ email: 'admin@example.test', audience: 'https://api.example.test' });
    assert.deepEqual(claimsOf(other).aud, ['https://api.example.test']);
    const refused = await get('/admin', { authorization: `Bearer ${other}` });
    assert.equal(refused.statusCode, 401);
    assert.match(String(refused.headers['www-authenticate']), /KINDE_AUDIENCE/);
    const api = await buildApp(kit.options({ audience: 'https://api.example.test' }));
    assert.equal(
      (await api.inject({ url: '/admin', headers: { authorization: `Bearer ${other}` } })).statusCode,
      200,
    );
    await api.close();
  });

  test('machineToken: a client-credentials token with the permissions and org asked for', async () => {
    const token = await kit.machineToken({ permissions: ['delete:items'], org: 'org_acme' });
    assert.deepEqual(claimsOf(token).gty, ['client_credentials']);
    const headers = { authorization: `Bearer ${token}` };
    assert.equal((await get('/me', headers)).json().kind, 'machine');
    assert.equal((await get('/admin', headers)).statusCode, 200);
    assert.equal((await get('/acme', headers)).statusCode, 200);
    const bare = await kit.machineToken({ permissions: [] });
    assert.equal((await get('/admin', { authorization: `Bearer ${bare}` })).statusCode, 403);
  });

  test('expireAccessToken: the next request refreshes through the emulator', async () => {
    const cookie = await kit.signIn(app, { email: 'admin@example.test' });
    const before = (await get('/me', { cookie })).json().token;
    await kit.expireAccessToken(app, cookie);
    await kit.clearRequests();
    const after = (await get('/me', { cookie })).json().token;
    assert.notEqual(after, before);
    const grants = (await kit.requests()).filter((r) => r.path === '/oauth2/token').map((r) => r.grantType);
    assert.deepEqual(grants, ['refresh_token']);
  });

  test('an expired token with the token endpoint down answers 503, and works once it is back', async () => {
    const cookie = await kit.signIn(app, { email: 'admin@example.test' });
    await kit.expireAccessToken(app, cookie);
    await kit.fail('token', { mode: 'down' });
    try {
      assert.equal((await get('/me', { cookie })).statusCode, 503);
    } finally {
      await kit.clearFailures();
    }
    // The session waits out its backoff (about 1 s) before it asks the provider again: on the app's clock.
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      clock.advance(100);
      status = (await get('/me', { cookie })).statusCode;
    }
    assert.equal(status, 200);
  });

  test('testClock: moving the app clock past the idle timeout ends a session, without waiting', async () => {
    const moved = testClock();
    const idle = await buildApp(kit.options({ clock: moved, idleTimeout: 60 }));
    try {
      const cookie = await kit.signIn(idle, { email: 'user@example.test' });
      moved.advance(30_000);
      assert.equal((await idle.inject({ url: '/me', headers: { cookie } })).statusCode, 200);
      moved.advance(61_000);
      assert.equal(moved.offsetMs, 91_000);
      assert.equal((await idle.inject({ url: '/me', headers: { cookie } })).statusCode, 401);
      assert.throws(() => moved.advance(Number.NaN), /testClock\.advance: pass a finite number/);
    } finally {
      await idle.close();
    }
  });

  test('advanceClock past the refresh token lifetime: the refresh is refused and the session ends', async () => {
    const cookie = await kit.signIn(app, { email: 'user@example.test' });
    await kit.expireAccessToken(app, cookie);
    await kit.advanceClock(1_296_000 + 60);
    try {
      assert.equal((await get('/me', { cookie })).statusCode, 401);
      await assert.rejects(kit.expireAccessToken(app, cookie), /no session for this cookie/);
    } finally {
      await kit.advanceClock(-(1_296_000 + 60));
    }
    assert.ok(Math.abs((await kit.clock()).offsetSeconds) < 1);
  });

  test('a provider fault during sign-in fails it with the reason, because the callback really checks', async () => {
    await kit.fail('token', { mode: 'down', count: 1 });
    await assert.rejects(kit.signIn(app, { email: 'admin@example.test' }), (error: Error) => {
      assert.equal(error.name, 'KindeTestError');
      assert.match(error.message, /signIn: GET \/api\/auth\/kinde_callback answered 5\d\d/);
      return true;
    });
    assert.match(await kit.signIn(app, { email: 'admin@example.test' }), /^kinde_session=/);
  });

  test('reset forgets the request log and faults', async () => {
    await kit.fail('jwks', { mode: 'down' });
    await kit.signIn(app, { email: 'admin@example.test' });
    assert.ok((await kit.requests()).length > 0);
    await kit.reset();
    assert.deepEqual(await kit.requests(), []);
    const jwks = await fetch(`${kit.issuerUrl}/.well-known/jwks.json`);
    assert.equal(jwks.status, 200);
  });
});

describe('fastify-kinde/testing against a running emulator (HTTP control API)', () => {
  test('signIn through the login page (no headless login), with grants written over HTTP', async () => {
    const emulator = await startEmulator({ port: 0 });
    const secret = emulator.directory.applications[0]?.clientSecret;
    const kit = await connectKindeTest({ issuerUrl: `${emulator.issuerUrl}/`, clientSecret: secret });
    const app = await buildApp(kit.options());
    try {
      await kit.clearRequests();
      const cookie = await kit.signIn(app, { email: 'user@example.test', roles: ['auditor'] });
      assert.equal((await app.inject({ url: '/audit', headers: { cookie } })).statusCode, 200);
      const paths = (await kit.requests()).map((r) => `${r.method} ${r.path}`);
      assert.ok(paths.includes('POST /oauth2/auth/login'), paths.join(', '));
      const token = await kit.bearerFor({ permissions: ['delete:items'] });
      assert.equal(
        (await app.inject({ url: '/admin', headers: { authorization: `Bearer ${token}` } })).statusCode,
        200,
      );
      const machine = await kit.machineToken({ permissions: ['delete:items'] });
      assert.deepEqual(claimsOf(machine).gty, ['client_credentials']);
      await kit.close();
      assert.equal((await fetch(`${emulator.issuerUrl}/.well-known/jwks.json`)).status, 200, 'left running');
    } finally {
      await app.close();
      await emulator.close();
    }
  });
});
