import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { type Emulator, startEmulator } from 'kinde-emulator';
import fastifyKinde, { type RedisSessionStore, redisSessionStore, requirePermission } from '../src/index.js';
import { connectKindeTest, type KindeTestKit } from '../src/testing/index.js';
import { REDIS_URL, redisMissing, removeKeys, testPrefix } from './redis-kit.js';

const noRedis = await redisMissing();

/**
 * Item 5 of "Coming from Kinde's SDKs": `request.kinde.refreshTokens()` renews a session's tokens
 * at once, through the refresh single flight, so that a role or permission granted in Kinde shows in
 * the same request and the next ones.
 */

const UMA = 'user@example.test';
const ORG = 'org_0000000001';

let emulator: Emulator;
let kit: KindeTestKit;
let app: FastifyInstance;

function grant(permissions: string[], roles: string[] = []): void {
  emulator.control.mergeDirectory({
    users: [
      {
        email: UMA,
        organizations: [{ orgCode: ORG, permissions, roles, featureFlags: { dark_mode: false } }],
      },
    ],
  });
}

const refreshes = () => emulator.requests.filter((r) => r.grantType === 'refresh_token').length;

before(async () => {
  emulator = await startEmulator({ port: 0, headlessLogin: true });
  kit = await connectKindeTest({
    issuerUrl: emulator.issuerUrl,
    clientSecret: emulator.directory.applications[0]!.clientSecret,
  });
  app = Fastify();
  await app.register(fastifyKinde, kit.options());
  app.post('/upgraded', async (request) => {
    const before = request.kinde.getPermission('write:items').isGranted;
    const tokenBefore = request.kinde.getAccessToken();
    await request.kinde.refreshTokens();
    return {
      before,
      after: request.kinde.getPermission('write:items').isGranted,
      roles: request.kinde.getRoles().map((r) => r.key),
      has: await request.kinde.has({ permissions: ['write:items'], roles: ['admin'] }),
      newToken: request.kinde.getAccessToken() !== tokenBefore,
    };
  });
  app.get('/write', { onRequest: requirePermission('write:items') }, () => ({ ok: true }));
});
after(async () => {
  await app?.close();
  await emulator?.close();
});

describe('request.kinde.refreshTokens()', () => {
  test('after a role change: the same request and the next ones see the new grants', async () => {
    grant(['read:items']);
    const cookie = await kit.signIn(app, { email: UMA });
    assert.equal((await app.inject({ url: '/write', headers: { cookie } })).statusCode, 403);
    grant(['read:items', 'write:items'], ['admin']);
    // Without a refresh, the session still holds the old token.
    assert.equal((await app.inject({ url: '/write', headers: { cookie } })).statusCode, 403);
    const before = refreshes();
    const res = await app.inject({ method: 'POST', url: '/upgraded', headers: { cookie } });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { before: false, after: true, roles: ['admin'], has: true, newToken: true });
    assert.equal(refreshes(), before + 1, 'one refresh at the token endpoint');
    assert.equal((await app.inject({ url: '/write', headers: { cookie } })).statusCode, 200);
  });

  test('concurrent refreshTokens() of one session share one refresh (the single flight)', async () => {
    grant(['read:items']);
    const cookie = await kit.signIn(app, { email: UMA });
    grant(['read:items', 'write:items']);
    const before = refreshes();
    const answers = await Promise.all(
      [1, 2, 3].map(() => app.inject({ method: 'POST', url: '/upgraded', headers: { cookie } })),
    );
    for (const answer of answers) assert.equal(answer.json().after, true);
    assert.equal(refreshes(), before + 1);
  });

  test('a bearer caller and an anonymous caller get a clear 401, not a refresh', async () => {
    const token = await kit.bearerFor({ email: UMA });
    const before = refreshes();
    const bearer = await app.inject({
      method: 'POST',
      url: '/upgraded',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(bearer.statusCode, 401);
    assert.equal(bearer.json().code, 'ERR_NOT_AUTHENTICATED');
    assert.match(bearer.json().message, /refreshTokens\(\) needs a browser session/);
    const anonymous = await app.inject({ method: 'POST', url: '/upgraded' });
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().code, 'ERR_NOT_AUTHENTICATED');
    assert.equal(refreshes(), before);
  });

  test('the provider down: 503, and the session stays', async () => {
    const cookie = await kit.signIn(app, { email: UMA });
    emulator.control.failTokenEndpoint({ mode: 'down', count: 1 });
    try {
      const res = await app.inject({ method: 'POST', url: '/upgraded', headers: { cookie } });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().code, 'ERR_PROVIDER_UNAVAILABLE');
    } finally {
      emulator.control.clearFailures();
    }
    const still = await app.inject({ url: '/write', headers: { cookie } });
    assert.notEqual(still.statusCode, 401, 'an outage does not sign the user out');
  });

  test('a session without a refresh token (no "offline" scope): ERR_CONFIG, and the session stays', async () => {
    const noOffline = Fastify();
    await noOffline.register(fastifyKinde, kit.options({ scope: 'openid profile email' }));
    noOffline.post('/upgraded', async (request) => {
      await request.kinde.refreshTokens();
      return { ok: true };
    });
    noOffline.get('/me', (request) => ({ kind: request.kinde.kind }));
    try {
      const cookie = await kit.signIn(noOffline, { email: UMA });
      const res = await noOffline.inject({ method: 'POST', url: '/upgraded', headers: { cookie } });
      assert.equal(res.statusCode, 500);
      assert.equal(res.json().code, 'ERR_CONFIG');
      assert.match(res.json().message, /lacks "offline"/);
      assert.equal((await noOffline.inject({ url: '/me', headers: { cookie } })).json().kind, 'user');
    } finally {
      await noOffline.close();
    }
  });

  test('a refresh the provider refuses ends the session: 401 now and after', async () => {
    grant(['read:items', 'write:items']);
    const cookie = await kit.signIn(app, { email: UMA });
    emulator.control.reset(); // forgets every refresh token
    const res = await app.inject({ method: 'POST', url: '/upgraded', headers: { cookie } });
    assert.equal(res.statusCode, 401);
    assert.match(res.json().message, /session has ended/);
    assert.equal((await app.inject({ url: '/write', headers: { cookie } })).statusCode, 401);
  });
});

describe('refreshTokens() across two instances sharing Redis (leases)', () => {
  const prefix = testPrefix('forced-refresh');
  const stores: RedisSessionStore[] = [];
  const instances: FastifyInstance[] = [];
  after(async () => {
    for (const instance of instances) await instance.close();
    await Promise.all(stores.map((store) => store.close()));
    if (!noRedis) await removeKeys(prefix);
  });

  test('both instances asking at once: one refresh at the provider, both see the new grants', {
    skip: noRedis,
    timeout: 30_000,
  }, async () => {
    for (let i = 0; i < 2; i++) {
      const store = redisSessionStore({ url: REDIS_URL, prefix });
      stores.push(store);
      const instance = Fastify();
      await instance.register(fastifyKinde, kit.options({ sessionStore: store }));
      instance.post('/upgraded', async (request) => {
        await request.kinde.refreshTokens();
        return { after: request.kinde.getPermission('write:items').isGranted };
      });
      instances.push(instance);
    }
    const [a, b] = instances as [FastifyInstance, FastifyInstance];
    grant(['read:items']);
    const cookie = await kit.signIn(a, { email: UMA });
    grant(['read:items', 'write:items']);
    // A slow token endpoint keeps the first refresh in flight while the other instance asks.
    emulator.control.failTokenEndpoint({ mode: 'slow', delayMs: 600, count: 1 });
    const before = refreshes();
    const answers = await Promise.all([
      a.inject({ method: 'POST', url: '/upgraded', headers: { cookie } }),
      b.inject({ method: 'POST', url: '/upgraded', headers: { cookie } }),
    ]);
    for (const answer of answers) assert.deepEqual(answer.json(), { after: true }, answer.body);
    assert.equal(refreshes(), before + 1, 'one refresh: the other instance waited for its result');
  });
});
