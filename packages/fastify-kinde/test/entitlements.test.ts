import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { defaultDirectory, type Emulator, startEmulator } from 'kinde-emulator';
import fastifyKinde, { type KindeHasParams, requireEntitlement, requireKinde } from '../src/index.js';
import { connectKindeTest, type KindeTestKit } from '../src/testing/index.js';

/**
 * Item 7 of "Coming from Kinde's SDKs": billing entitlements from Kinde's Account API (every page),
 * `requireEntitlement()`, the `billingEntitlements` requirement, and `request.kinde.has()`.
 */

const ADA = 'admin@example.test';
const UMA = 'user@example.test';

let emulator: Emulator;
let kit: KindeTestKit;
let app: FastifyInstance;

const HAS_CASES: Record<string, KindeHasParams> = {
  everything: {
    roles: ['admin'],
    permissions: ['delete:items'],
    featureFlags: ['dark_mode', { flag: 'theme', value: 'pink' }],
    billingEntitlements: ['Seats 1'],
  },
  conditions: {
    roles: [{ role: 'admin', condition: (role) => role.name === 'Admin' }],
    permissions: [{ permission: 'read:items', condition: (p) => p.orgCode === 'org_0000000001' }],
    billingEntitlements: [{ entitlement: 'Seats 12', condition: (e) => (e.entitlementLimitMax ?? 0) >= 22 }],
  },
  failedCondition: {
    billingEntitlements: [{ entitlement: 'Seats 12', condition: (e) => (e.entitlementLimitMax ?? 0) > 1000 }],
  },
  missingEntitlement: { billingEntitlements: ['Seats 1', 'Gold'] },
  flagOff: { featureFlags: ['dark_mode'] },
  wrongFlagValue: { featureFlags: [{ flag: 'theme', value: 'blue' }] },
  tokenOnly: { permissions: ['read:items'] },
  missingRole: { roles: ['admin'], billingEntitlements: ['Seats 1'] },
  nothing: {},
  unknownKey: { permission: ['read:items'] } as unknown as KindeHasParams,
  forceApi: { permissions: ['read:items'], forceApi: true } as unknown as KindeHasParams,
  notAList: { roles: 'admin' } as unknown as KindeHasParams,
  blank: { permissions: [''] },
  noCondition: { roles: [{ role: 'admin' }] } as unknown as KindeHasParams,
};

const accountCalls = () => emulator.requests.filter((r) => r.path.startsWith('/account_api/v1/')).length;

before(async () => {
  const dir = defaultDirectory();
  dir.plans = [
    {
      key: 'pro',
      entitlements: Array.from({ length: 15 }, (_, i) => ({
        featureKey: `seats_${i}`,
        featureName: `Seats ${i}`,
        limitMax: 10 + i,
      })),
    },
  ];
  dir.users[0]!.plans = ['pro'];
  emulator = await startEmulator({ port: 0, headlessLogin: true, directory: dir });
  kit = await connectKindeTest({
    issuerUrl: emulator.issuerUrl,
    clientSecret: emulator.directory.applications[0]!.clientSecret,
  });
  app = Fastify();
  await app.register(fastifyKinde, kit.options());
  app.get('/entitlements', (request) => request.kinde.getEntitlements());
  app.get('/tamper', async (request) => {
    const { entitlements } = await request.kinde.getEntitlements();
    try {
      (entitlements[0] as { priceName: string | null }).priceName = 'Gold';
      return { changed: true };
    } catch (error) {
      return { changed: false, error: (error as Error).name };
    }
  });
  app.get('/entitlement/:key', (request) =>
    request.kinde.getEntitlement((request.params as { key: string }).key),
  );
  app.get('/has/:name', async (request) => {
    const params = HAS_CASES[(request.params as { name: string }).name]!;
    try {
      return { has: await request.kinde.has(params) };
    } catch (error) {
      return { error: (error as Error).name, message: (error as Error).message };
    }
  });
  app.post('/upgraded', async (request) => {
    const before = (await request.kinde.getEntitlements()).entitlements.length;
    await request.kinde.refreshTokens();
    return { before, after: (await request.kinde.getEntitlements()).entitlements.length };
  });
  app.get('/pro', { onRequest: requireEntitlement('Seats 14') }, () => ({ ok: true }));
  app.get('/gold', { onRequest: requireEntitlement(['Seats 0', 'Gold']) }, () => ({ ok: true }));
  app.get(
    '/declared',
    { config: { kinde: { permissions: ['read:items'], billingEntitlements: ['Seats 3'] } } },
    () => ({ ok: true }),
  );
});
after(async () => {
  await app?.close();
  await emulator?.close();
});

describe('getEntitlements and getEntitlement', () => {
  test('every page, in js-utils names; reused within a session', async () => {
    const cookie = await kit.signIn(app, { email: ADA });
    const before = accountCalls();
    const res = await app.inject({ url: '/entitlements', headers: { cookie } });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json();
    assert.equal(body.orgCode, 'org_0000000001');
    assert.deepEqual(
      body.plans.map((p: { key: string }) => p.key),
      ['pro'],
    );
    assert.equal(body.entitlements.length, 15);
    assert.deepEqual(Object.keys(body.entitlements[14]).sort(), [
      'entitlementLimitMax',
      'entitlementLimitMin',
      'featureKey',
      'featureName',
      'fixedCharge',
      'id',
      'priceName',
      'unitAmount',
    ]);
    assert.equal(body.entitlements[14].featureKey, 'seats_14');
    assert.equal(body.entitlements[14].priceName, 'Seats 14');
    assert.equal(accountCalls(), before + 2, 'two pages');
    await app.inject({ url: '/entitlements', headers: { cookie } });
    assert.equal(accountCalls(), before + 2, 'the second call within 30 s is answered from memory');
  });

  test('the shared answer is frozen: a handler cannot change what the next request reads', async () => {
    const cookie = await kit.signIn(app, { email: ADA });
    assert.deepEqual((await app.inject({ url: '/tamper', headers: { cookie } })).json(), {
      changed: false,
      error: 'TypeError',
    });
    const again = (await app.inject({ url: '/entitlements', headers: { cookie } })).json();
    assert.equal(again.entitlements[0].priceName, 'Seats 0');
  });

  test('one entitlement by feature key; null when not held; a malformed key is a 400', async () => {
    const cookie = await kit.signIn(app, { email: ADA });
    const held = (await app.inject({ url: '/entitlement/seats_3', headers: { cookie } })).json();
    assert.equal(held.entitlement.featureKey, 'seats_3');
    const missing = (await app.inject({ url: '/entitlement/gold', headers: { cookie } })).json();
    assert.equal(missing.entitlement, null);
    const bad = await app.inject({ url: `/entitlement/${encodeURIComponent('a b')}`, headers: { cookie } });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().code, 'ERR_BAD_REQUEST');
  });

  test('without a user: a clear 401, and no call to the Account API', async () => {
    const before = accountCalls();
    const anonymous = await app.inject({ url: '/entitlements' });
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().code, 'ERR_NOT_AUTHENTICATED');
    assert.match(anonymous.json().message, /need a signed-in user/);
    const machine = await kit.machineToken();
    const m = await app.inject({
      url: '/entitlement/seats_1',
      headers: { authorization: `Bearer ${machine}` },
    });
    assert.equal(m.statusCode, 401);
    assert.match(m.json().message, /a machine token has none/);
    assert.equal(accountCalls(), before);
  });

  test('a bearer user token reads its own entitlements', async () => {
    const token = await kit.bearerFor({ email: ADA });
    const res = await app.inject({ url: '/entitlements', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.json().entitlements.length, 15);
  });

  test('the Account API down: 503 ERR_PROVIDER_UNAVAILABLE, and a later call tries again', async () => {
    const cookie = await kit.signIn(app, { email: ADA });
    emulator.control.failEndpoint('account_api', { mode: 'down', count: 1 });
    const down = await app.inject({ url: '/entitlements', headers: { cookie } });
    assert.equal(down.statusCode, 503);
    assert.equal(down.json().code, 'ERR_PROVIDER_UNAVAILABLE');
    const again = await app.inject({ url: '/entitlements', headers: { cookie } });
    assert.equal(again.statusCode, 200);
  });

  test('refreshTokens() drops the remembered entitlements (after a plan change)', async () => {
    const cookie = await kit.signIn(app, { email: ADA });
    await app.inject({ url: '/entitlements', headers: { cookie } });
    emulator.control.mergeDirectory({ plans: [{ key: 'pro', entitlements: [{ featureKey: 'only_one' }] }] });
    try {
      const res = (await app.inject({ method: 'POST', url: '/upgraded', headers: { cookie } })).json();
      assert.deepEqual(res, { before: 15, after: 1 });
    } finally {
      emulator.control.mergeDirectory({
        plans: [
          {
            key: 'pro',
            entitlements: Array.from({ length: 15 }, (_, i) => ({
              featureKey: `seats_${i}`,
              featureName: `Seats ${i}`,
              limitMax: 10 + i,
            })),
          },
        ],
      });
    }
  });
});

describe('requireEntitlement and the billingEntitlements requirement', () => {
  test('held (on the second page): 200; missing: 403 naming it; anonymous: 401; a machine: 403', async () => {
    const ada = await kit.signIn(app, { email: ADA });
    assert.equal((await app.inject({ url: '/pro', headers: { cookie: ada } })).statusCode, 200);
    assert.equal((await app.inject({ url: '/declared', headers: { cookie: ada } })).statusCode, 200);
    const gold = await app.inject({ url: '/gold', headers: { cookie: ada } });
    assert.equal(gold.statusCode, 403);
    assert.deepEqual(gold.json(), { detail: 'Missing billing entitlement: Gold' });
    const uma = await kit.signIn(app, { email: UMA });
    const refused = await app.inject({ url: '/pro', headers: { cookie: uma } });
    assert.equal(refused.statusCode, 403);
    assert.deepEqual(refused.json(), { detail: 'Missing billing entitlement: Seats 14' });
    assert.equal((await app.inject({ url: '/pro' })).statusCode, 401);
    const machine = await kit.machineToken();
    const m = await app.inject({ url: '/pro', headers: { authorization: `Bearer ${machine}` } });
    assert.equal(m.statusCode, 403);
    assert.match(m.headers['www-authenticate'] as string, /insufficient_scope/);
  });

  test('the token parts are checked first: no Account API call for a caller they refuse', async () => {
    const eve = await kit.signIn(app, { user: { email: 'eve@example.test', givenName: 'Eve' } });
    const before = accountCalls();
    assert.equal((await app.inject({ url: '/declared', headers: { cookie: eve } })).statusCode, 403);
    assert.equal(accountCalls(), before);
  });

  test('the Account API down: the guard answers 503, never a pass', async () => {
    const ada = await kit.signIn(app, { email: ADA });
    emulator.control.failEndpoint('account_api', { mode: 'down', count: 1 });
    const res = await app.inject({ url: '/pro', headers: { cookie: ada } });
    assert.equal(res.statusCode, 503);
    assert.deepEqual(res.json(), { detail: 'Billing entitlements cannot be checked right now' });
  });

  test('a requirement that would let anyone through is refused when the route is defined', async () => {
    assert.throws(() => requireEntitlement([]), /"billingEntitlements" must list at least one name/);
    assert.throws(() => requireKinde({ billingEntitlements: ['  '] }), /must not contain blank names/);
    const bad = Fastify();
    await bad.register(fastifyKinde, kit.options());
    assert.throws(
      () => bad.get('/x', { config: { kinde: { billingEntitlements: [] } } }, () => 'x'),
      (error: Error & { code?: string }) => error.code === 'ERR_CONFIG',
    );
    await bad.close();
  });
});

describe('request.kinde.has()', () => {
  const has = async (cookie: string | undefined, name: string) =>
    (await app.inject({ url: `/has/${name}`, headers: cookie ? { cookie } : {} })).json();

  test('true when everything is held; conditions are called with what is held', async () => {
    const ada = await kit.signIn(app, { email: ADA });
    assert.deepEqual(await has(ada, 'everything'), { has: true });
    assert.deepEqual(await has(ada, 'conditions'), { has: true });
    assert.deepEqual(await has(ada, 'nothing'), { has: true });
  });

  test('false for anything missing, a failed condition, a flag that is off or has another value', async () => {
    const ada = await kit.signIn(app, { email: ADA });
    assert.deepEqual(await has(ada, 'failedCondition'), { has: false });
    assert.deepEqual(await has(ada, 'missingEntitlement'), { has: false });
    assert.deepEqual(await has(ada, 'wrongFlagValue'), { has: false });
    const uma = await kit.signIn(app, { email: UMA });
    assert.deepEqual(await has(uma, 'flagOff'), { has: false });
    assert.deepEqual(await has(uma, 'tokenOnly'), { has: true });
    const before = accountCalls();
    assert.deepEqual(await has(uma, 'missingRole'), { has: false });
    assert.equal(accountCalls(), before, 'entitlements are not asked for when the token already says no');
  });

  test('an anonymous caller holds nothing, not even {}', async () => {
    assert.deepEqual(await has(undefined, 'nothing'), { has: false });
    assert.deepEqual(await has(undefined, 'tokenOnly'), { has: false });
  });

  test('unknown keys, forceApi, lists that are not lists, blank names and missing conditions throw', async () => {
    const ada = await kit.signIn(app, { email: ADA });
    const cases: [string, RegExp][] = [
      ['unknownKey', /unknown key "permission"/],
      ['forceApi', /"forceApi" is not supported/],
      ['notAList', /"roles" must be a list/],
      ['blank', /"permissions" holds a blank or malformed item/],
      ['noCondition', /"roles" item "admin" needs a condition function/],
    ];
    for (const [name, message] of cases) {
      const answer = await has(ada, name);
      assert.equal(answer.error, 'TypeError', name);
      assert.match(answer.message, message);
    }
    // Malformed params are refused whoever asks, so a bug shows before anyone signs in.
    assert.equal((await has(undefined, 'unknownKey')).error, 'TypeError');
  });
});
