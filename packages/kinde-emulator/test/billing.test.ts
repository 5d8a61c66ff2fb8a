import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { type Directory, defaultDirectory, type Emulator, startEmulator } from '../src/index.js';
import { validateDirectory } from '../src/validate.js';

/**
 * Billing plans and entitlements in the Account API (`/account_api/v1/entitlements`, paginated as
 * Kinde's lists are), user and organization properties, phone and username in the tokens, and
 * `ksp` (session persistence) per application.
 */

const ORG = 'org_0000000001';

/** JSON read or patched by path in these tests. */
// biome-ignore lint/suspicious/noExplicitAny: test JSON is reached into by path, checked by the asserts
type Json = Record<string, any>;

function directory(): Directory {
  const dir = defaultDirectory();
  dir.plans = [
    {
      key: 'pro',
      name: 'Pro',
      entitlements: Array.from({ length: 12 }, (_, i) => ({
        featureKey: `feature_${String(i).padStart(2, '0')}`,
        featureName: `Feature ${i}`,
        priceName: `Pro feature ${i}`,
        unitAmount: 1,
        fixedCharge: 10,
        limitMax: 100,
        limitMin: 1,
      })),
    },
    { key: 'personal', entitlements: [{ featureKey: 'personal_space' }] },
  ];
  dir.organizations[0]!.plans = ['pro'];
  dir.organizations[0]!.properties = { kp_org_city: 'Melbourne' };
  const ada = dir.users[0]!;
  ada.plans = ['personal'];
  ada.username = 'ada';
  ada.phoneNumber = '+61400000000';
  ada.properties = { kp_usr_city: 'Sydney', vip: true };
  return dir;
}

let emu: Emulator;
let adaToken: string;
let umaToken: string;
before(async () => {
  emu = await startEmulator({ port: 0, directory: directory() });
  adaToken = (await emu.control.issueTokens({ user: 'admin@example.test' })).access_token;
  umaToken = (await emu.control.issueTokens({ user: 'user@example.test' })).access_token;
});
after(() => emu.close());

async function account(path: string, token = adaToken) {
  const res = await fetch(`${emu.issuerUrl}/account_api/v1/${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: res.status, body: (await res.json()) as Json };
}

describe('Account API entitlements', () => {
  test('pages of 10 by default, followed with starting_after, organization and user plans together', async () => {
    const first = await account('entitlements');
    assert.equal(first.status, 200);
    assert.equal(first.body.data.org_code, ORG);
    assert.deepEqual(
      first.body.data.plans.map((p: { key: string }) => p.key),
      ['pro', 'personal'],
    );
    assert.match(first.body.data.plans[0].subscribed_on, /^\d{4}-\d\d-\d\dT/);
    assert.equal(first.body.data.entitlements.length, 10);
    assert.equal(first.body.metadata.has_more, true);
    const e = first.body.data.entitlements[0];
    assert.deepEqual(Object.keys(e).sort(), [
      'entitlement_limit_max',
      'entitlement_limit_min',
      'feature_key',
      'feature_name',
      'fixed_charge',
      'id',
      'price_name',
      'unit_amount',
    ]);
    assert.match(e.id, /^entitlement_[0-9a-f]{32}$/);
    assert.equal(e.feature_key, 'feature_00');
    assert.equal(e.price_name, 'Pro feature 0');
    assert.equal(first.body.metadata.next_page_starting_after, first.body.data.entitlements[9].id);
    const second = await account(
      `entitlements?starting_after=${first.body.metadata.next_page_starting_after}`,
    );
    assert.deepEqual(
      second.body.data.entitlements.map((x: { feature_key: string }) => x.feature_key),
      ['feature_10', 'feature_11', 'personal_space'],
    );
    assert.deepEqual(second.body.metadata, { has_more: false, next_page_starting_after: null });
    // The defaults of a plan entitlement with only a key.
    const personal = second.body.data.entitlements[2];
    assert.equal(personal.price_name, 'personal_space');
    assert.equal(personal.entitlement_limit_max, null);
  });

  test('page_size is honoured and checked; an unknown starting_after is a 400', async () => {
    const small = await account('entitlements?page_size=5');
    assert.equal(small.body.data.entitlements.length, 5);
    for (const size of ['0', '101', 'x', '2.5']) {
      const bad = await account(`entitlements?page_size=${size}`);
      assert.equal(bad.status, 400, size);
      assert.equal(bad.body.error, 'invalid_request');
    }
    const unknown = await account('entitlements?starting_after=entitlement_nope');
    assert.equal(unknown.status, 400);
  });

  test('one entitlement by feature key; null when not held', async () => {
    const held = await account('entitlement/feature_03');
    assert.equal(held.body.data.entitlement.feature_key, 'feature_03');
    assert.equal(held.body.data.org_code, ORG);
    const missing = await account('entitlement/nope');
    assert.equal(missing.status, 200);
    assert.equal(missing.body.data.entitlement, null);
  });

  test('a user with no plan of their own still gets the organization plan', async () => {
    const uma = await account('entitlements?page_size=100', umaToken);
    assert.deepEqual(
      uma.body.data.plans.map((p: { key: string }) => p.key),
      ['pro'],
    );
    assert.equal(uma.body.data.entitlements.length, 12);
  });

  test('plans changed through the control API show at once', async () => {
    emu.control.mergeDirectory({
      plans: [{ key: 'personal', entitlements: [{ featureKey: 'bigger_space' }] }],
    });
    const second = await account('entitlements?page_size=100');
    assert.ok(
      second.body.data.entitlements.some((x: { feature_key: string }) => x.feature_key === 'bigger_space'),
    );
    emu.control.mergeDirectory({ users: [{ email: 'admin@example.test', plans: [] }] });
    const none = await account('entitlements?page_size=100');
    assert.equal(none.body.data.entitlements.length, 12);
  });

  test('no token, a bad token: 401', async () => {
    const res = await fetch(`${emu.issuerUrl}/account_api/v1/entitlements`);
    assert.equal(res.status, 401);
    assert.equal((await account('entitlements', 'not.a.token')).status, 401);
  });

  test('an injected failure makes the Account API answer 503', async () => {
    emu.control.failEndpoint('account_api', { mode: 'down', count: 1 });
    assert.equal((await account('entitlements')).status, 503);
    assert.equal((await account('entitlements')).status, 200);
  });
});

describe('user and organization data in the tokens', () => {
  test('ID token: preferred_username, phone_number, user_properties; access token: both property sets and ksp', async () => {
    const tokens = await emu.control.issueTokens({ user: 'admin@example.test' });
    const id = decodeJwt(tokens.id_token!);
    assert.equal(id.preferred_username, 'ada');
    assert.equal(id.phone_number, '+61400000000');
    assert.deepEqual(id.user_properties, { kp_usr_city: { v: 'Sydney' }, vip: { v: true } });
    const access = decodeJwt(tokens.access_token);
    assert.deepEqual(access.user_properties, { kp_usr_city: { v: 'Sydney' }, vip: { v: true } });
    assert.deepEqual(access.organization_properties, { kp_org_city: { v: 'Melbourne' } });
    assert.deepEqual(access.ksp, { persistent: true });
    const plain = decodeJwt((await emu.control.issueTokens({ user: 'user@example.test' })).id_token!);
    assert.equal(plain.preferred_username, undefined);
    assert.equal(plain.user_properties, undefined);
  });

  test('persistentSessions: false gives ksp.persistent false', async () => {
    const clientId = emu.directory.applications[0]!.clientId;
    emu.control.mergeDirectory({ applications: [{ clientId, persistentSessions: false }] });
    const access = decodeJwt((await emu.control.issueTokens({ user: 'admin@example.test' })).access_token);
    assert.deepEqual(access.ksp, { persistent: false });
    emu.control.mergeDirectory({ applications: [{ clientId, persistentSessions: true }] });
  });
});

describe('directory validation of plans and properties', () => {
  const withPatch = (patch: (dir: Json) => void) => {
    const dir = JSON.parse(JSON.stringify(directory()));
    patch(dir);
    return () => validateDirectory(dir);
  };
  const cases: [string, (dir: Json) => void, RegExp][] = [
    [
      'unknown plan of a user',
      (d) => (d.users[0].plans = ['gold']),
      /users\[0\]\.plans\[0\]: no plan has key "gold"/,
    ],
    [
      'unknown plan of an org',
      (d) => (d.organizations[0].plans = ['gold']),
      /organizations\[0\]\.plans\[0\]/,
    ],
    ['duplicate plan', (d) => d.plans.push({ key: 'pro' }), /plans\[2\]\.key: duplicates "pro"/],
    [
      'duplicate feature',
      (d) => d.plans[1].entitlements.push({ featureKey: 'personal_space' }),
      /plans\[1\]\.entitlements\[1\]\.featureKey: duplicates/,
    ],
    [
      'min over max',
      (d) => (d.plans[0].entitlements[0].limitMin = 500),
      /limitMin: must not exceed limitMax/,
    ],
    [
      'negative amount',
      (d) => (d.plans[0].entitlements[0].unitAmount = -1),
      /unitAmount: must be a non-negative number/,
    ],
    [
      'bad feature key',
      (d) => (d.plans[0].entitlements[0].featureKey = 'a b'),
      /featureKey: must be letters/,
    ],
    ['unknown field', (d) => (d.plans[0].price = 1), /plans\[0\]\.price: is not a known field/],
    [
      'proto property',
      (d) => (d.users[0].properties = JSON.parse('{"__proto__":1}')),
      /must be a lower-case key/,
    ],
    [
      'object property value',
      (d) => (d.users[0].properties = { a: { b: 1 } }),
      /must be a boolean, an integer or a string/,
    ],
    [
      'bad persistentSessions',
      (d) => (d.applications[0].persistentSessions = 'no'),
      /persistentSessions: must be true or false/,
    ],
  ];
  for (const [name, patch, message] of cases) {
    test(name, () => assert.throws(withPatch(patch), message));
  }

  test('the control API answers 400 naming the field', async () => {
    const res = await fetch(`${emu.issuerUrl}/_emulator/directory`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ users: [{ email: 'admin@example.test', plans: ['gold'] }] }),
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { field: string }).field, 'users[0].plans[0]');
  });
});
