import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { memorySessionStore, redisSessionStore } from '../src/index.js';
import type { SessionRecord } from '../src/session/record.js';
import type { SessionStore } from '../src/session/store.js';
import { createUserIndex, type UserIndex } from '../src/session/user-index.js';
import { type KindeWebhookOptions, registerWebhooks } from '../src/webhooks.js';
import { REDIS_URL, redisMissing, removeKeys, testPrefix } from './redis-kit.js';

const ISSUER = 'https://example.kinde.test';
const LIFE = 60_000;
const redisSkip = await redisMissing();
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

let jwksServer: Server;
let jwksUrl: URL;
let signing: Key;
let forger: Key;
const apps: FastifyInstance[] = [];

before(async () => {
  const pair = await generateKeyPair('RS256');
  signing = pair.privateKey;
  forger = (await generateKeyPair('RS256')).privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwksServer = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const { port } = jwksServer.address() as { port: number };
  jwksUrl = new URL(`http://127.0.0.1:${port}/jwks.json`);
});
after(async () => {
  for (const app of apps) await app.close();
  jwksServer.close();
});

/** An event as Kinde sends it. */
function event(type: string, data: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const at = new Date().toISOString();
  const id = `event_${randomBytes(16).toString('hex')}`;
  return { type, data, event_id: id, event_timestamp: at, source: 'api', timestamp: at, ...extra };
}

function sign(payload: Record<string, unknown>, key: Key = signing, header: Record<string, unknown> = {}) {
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header }).sign(key);
}

/** An app with only the webhook route, over `store`. */
async function hookApp(store: SessionStore, options: Partial<KindeWebhookOptions> = {}) {
  const app = Fastify();
  const users = createUserIndex(store, { sessionLifetimeMs: LIFE, idleTimeoutMs: LIFE });
  registerWebhooks(
    app,
    { path: '/hooks', ...options },
    { issuerUrl: ISSUER, jwksUri: async () => jwksUrl, store, users },
  );
  await app.ready();
  apps.push(app);
  const post = (body: string, type = 'application/jwt') =>
    app.inject({ method: 'POST', url: '/hooks', headers: { 'content-type': type }, body });
  return { app, users, post };
}

/** Signs `sub` in (a stored and indexed session), optionally to an organization. */
async function session(store: SessionStore, users: UserIndex, sub: string, org?: string) {
  const id = randomBytes(16).toString('hex');
  const record: SessionRecord = {
    v: 1,
    user: { id: sub, email: null, given_name: null, family_name: null, picture: null },
    accessToken: 'x',
    accessClaims: { sub, ...(org && { org_code: org }) },
    accessExpiresAt: Date.now() + LIFE,
    idToken: null,
    idClaims: { sub },
    refreshToken: null,
    createdAt: Date.now(),
  };
  await store.set(`sess:${id}`, record, LIFE);
  await users.add(id, record);
  return id;
}

const record = async (store: SessionStore, id: string) =>
  (await store.get(`sess:${id}`))?.value as SessionRecord | undefined;

describe('webhook route', () => {
  test('forged, expired, other-issuer and malformed events are 4xx with a reason, and end nothing', async () => {
    const store = memorySessionStore();
    const { users, post } = await hookApp(store);
    const id = await session(store, users, 'kp_alice');
    const deleted = (extra: Record<string, unknown> = {}) =>
      event('user.deleted', { user: { id: 'kp_alice' } }, extra);
    const old = new Date(Date.now() - 3 * 3600_000).toISOString();
    const cases: [string, Promise<string> | string, number, RegExp][] = [
      ['another key, same kid', sign(deleted(), forger), 401, /signature does not verify/],
      [
        'an unknown kid',
        sign(deleted(), forger, { kid: 'other' }),
        401,
        /not signed with one of the issuer's keys/,
      ],
      ['another issuer', sign(deleted({ iss: 'https://evil.kinde.test' })), 401, /another issuer/],
      ['an old timestamp', sign(deleted({ timestamp: old, event_timestamp: old })), 401, /expired/],
      ['an expired exp', sign(deleted({ exp: Math.floor(Date.now() / 1000) - 60 })), 401, /expired/],
      ['a future timestamp', sign(deleted({ timestamp: '2999-01-01T00:00:00Z' })), 400, /future/],
      ['no event_id', sign({ ...deleted(), event_id: undefined }), 400, /event_id/],
      ['a bad event_id', sign(deleted({ event_id: '../x y' })), 400, /event_id/],
      ['no type', sign({ ...deleted(), type: 42 }), 400, /no type/],
      ['no data', sign({ ...deleted(), data: 'x' }), 400, /no data/],
      [
        'no timestamp',
        sign({ ...deleted(), timestamp: undefined, event_timestamp: 'soon' }),
        400,
        /timestamp/,
      ],
      ['not a JWT', 'hello', 401, /not a valid signed JWT/],
      ['an empty body', '', 400, /application\/jwt/],
    ];
    for (const [what, token, status, reason] of cases) {
      const answer = await post(await token);
      assert.equal(answer.statusCode, status, `${what}: ${answer.body}`);
      assert.match(answer.json().message, reason, what);
    }
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(deleted())).toString('base64url')}.`;
    assert.equal((await post(unsigned)).statusCode, 401, 'alg none');
    assert.equal(
      (await post(await sign(deleted()), 'application/xml')).statusCode,
      415,
      'another content type',
    );
    assert.equal((await post(await sign(deleted()), 'application/json')).statusCode, 400, 'not JSON');
    assert.equal((await post('x'.repeat(65 * 1024))).statusCode, 413, 'too large');
    assert.ok(await record(store, id), 'no refused event ended the session');
  });

  test('user.deleted ends all of that user’s sessions and no one else’s; the same event again is 409', async () => {
    const store = memorySessionStore();
    const { users, post } = await hookApp(store);
    const alice = [await session(store, users, 'kp_alice'), await session(store, users, 'kp_alice')];
    const bob = await session(store, users, 'kp_bob');
    const token = await sign(event('user.deleted', { user: { id: 'kp_alice' } }));
    const answer = await post(token);
    assert.equal(answer.statusCode, 200, answer.body);
    for (const id of alice) assert.equal(await record(store, id), undefined);
    assert.ok(await record(store, bob));
    const again = await post(token);
    assert.equal(again.statusCode, 409);
    assert.match(again.json().message, /already received/);
  });

  test('a suspended user is signed out; a removed membership ends that organization’s sessions; the rest refresh', async () => {
    const store = memorySessionStore();
    const { users, post } = await hookApp(store);
    const inA = await session(store, users, 'kp_alice', 'org_a');
    const inB = await session(store, users, 'kp_alice', 'org_b');
    const updated = (organizations: unknown[], suspended = false) =>
      sign(event('user.updated', { user: { id: 'kp_alice', is_suspended: suspended, organizations } }));
    assert.equal(
      (await post(await updated([{ code: 'org_b', roles: ['admin'], permissions: null }]))).statusCode,
      200,
    );
    assert.equal(await record(store, inA), undefined, 'no longer a member of org_a');
    assert.equal(
      (await record(store, inB))?.accessExpiresAt,
      0,
      'org_b renews its tokens on the next request',
    );
    const other = await session(store, users, 'kp_alice', 'org_b');
    assert.equal((await post(await updated([{ code: 'org_b' }], true))).statusCode, 200);
    assert.equal(await record(store, inB), undefined, 'suspended');
    assert.equal(await record(store, other), undefined);
  });

  test('reactions are replaceable per type, or off; onEvent sees every event; a failing one is 503 and retried', async () => {
    const store = memorySessionStore();
    const seen: string[] = [];
    let fail = true;
    const { users, post } = await hookApp(store, {
      on: {
        'user.deleted': false,
        'organization.deleted': async (_e, actions) => {
          if (fail) throw new Error('database down');
          await actions.revokeUser('kp_bob');
        },
      },
      onEvent: (e) => {
        seen.push(e.type);
      },
    });
    const alice = await session(store, users, 'kp_alice');
    const bob = await session(store, users, 'kp_bob');
    assert.equal(
      (await post(await sign(event('user.deleted', { user: { id: 'kp_alice' } })))).statusCode,
      200,
    );
    assert.ok(await record(store, alice), 'user.deleted was turned off');
    const orgDeleted = await sign(event('organization.deleted', { organization: { code: 'org_a' } }));
    const failed = await post(orgDeleted);
    assert.equal(failed.statusCode, 503);
    assert.ok(await record(store, bob));
    fail = false;
    assert.equal(
      (await post(orgDeleted)).statusCode,
      200,
      'the failed event was forgotten, so its retry is handled',
    );
    assert.equal(await record(store, bob), undefined);
    assert.deepEqual(seen, ['user.deleted', 'organization.deleted']);
  });

  test('an event is handled once across instances sharing a Redis store', { skip: redisSkip }, async () => {
    const prefix = testPrefix('hooks');
    const stores = [0, 1].map(() => redisSessionStore({ url: REDIS_URL, prefix, localCache: true }));
    try {
      const [a, b] = await Promise.all(stores.map((store) => hookApp(store)));
      const id = await session(stores[0]!, a!.users, 'kp_alice');
      const token = await sign(event('user.deleted', { user: { id: 'kp_alice' } }));
      const answers = await Promise.all([a!.post(token), b!.post(token)]);
      assert.deepEqual(answers.map((r) => r.statusCode).sort(), [200, 409]);
      assert.equal(await record(stores[1]!, id), undefined);
    } finally {
      for (const app of apps.splice(0)) await app.close();
      await Promise.all(stores.map((store) => store.close()));
      await removeKeys(prefix);
    }
  });
});
