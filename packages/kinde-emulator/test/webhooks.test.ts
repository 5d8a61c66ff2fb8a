import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeWebhook } from '@kinde/webhooks';
import {
  DirectoryError,
  defaultDirectory,
  type Emulator,
  startEmulator,
  validateDirectory,
} from '../src/index.js';
import { authUrl, baseAuthParams, get, login, parseLoginPage, postForm } from './helpers.js';
import { Receiver } from './webhook-receiver.js';

interface Decoded {
  type: string;
  data: Record<string, Record<string, unknown>>;
  event_id: string;
  event_timestamp: string;
  source: string;
  timestamp: string;
}

let emu: Emulator;
let hooks: Receiver;

function control(method: string, path: string, body?: unknown) {
  return fetch(`${emu.issuerUrl}/_emulator/webhooks${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? null : JSON.stringify(body),
  });
}

async function decode(body: string, issuer = emu.issuerUrl): Promise<Decoded> {
  const event = (await decodeWebhook(body, issuer)) as Decoded | null;
  assert.ok(event, 'decodeWebhook accepted the delivery');
  return event;
}

before(async () => {
  hooks = await new Receiver().start();
  const directory = defaultDirectory();
  directory.webhooks = [
    {
      endpoint: `${hooks.url}/kinde`,
      events: ['user.created', 'user.authenticated', 'organization.created'],
    },
  ];
  emu = await startEmulator({ directory, webhooks: { retryDelaysMs: [20, 40], timeoutMs: 2000 } });
});
after(async () => {
  await emu.close();
  await hooks.close();
});

test('sign-up on the login page delivers user.created, and the sign-in user.authenticated, both decoded by @kinde/webhooks', async () => {
  const start = hooks.received.length;
  const page = await get(authUrl(emu, baseAuthParams({ prompt: 'create' })));
  const { txn } = parseLoginPage(await page.text());
  const res = await postForm(`${emu.issuerUrl}/oauth2/auth/login`, {
    txn,
    mode: 'register',
    email: 'new.person@example.test',
    given_name: 'New',
    family_name: 'Person',
  });
  assert.equal(res.status, 302);
  // Each event is its own POST, so they may arrive in either order (Kinde promises none either).
  const both = (await hooks.waitFor(start + 2)).slice(start);
  const decoded = await Promise.all(both.map((hook) => decode(hook.body)));
  const index = decoded.findIndex((e) => e.type === 'user.created');
  const created = both[index];
  assert.equal(created?.headers['content-type'], 'application/jwt');
  assert.match(String(created?.headers['webhook-id']), /^msg_[0-9a-f]{24}$/);
  assert.equal(created?.path, '/kinde');
  const event = decoded[index] as Decoded;
  assert.equal(event.type, 'user.created');
  assert.equal(event.source, 'user');
  assert.match(event.event_id, /^event_[0-9a-f]{32}$/);
  assert.ok(Math.abs(Date.parse(event.timestamp) / 1000 - emu.clock.now()) < 5);
  assert.equal(event.event_timestamp, event.timestamp);
  const user = event.data.user as Record<string, unknown>;
  assert.equal(user.email, 'new.person@example.test');
  assert.equal(user.first_name, 'New');
  assert.equal(user.last_name, 'Person');
  assert.match(String(user.id), /^kp_[0-9a-f]{32}$/);
  assert.deepEqual(user.organizations, [{ code: 'org_0000000001', permissions: null, roles: null }]);
  const auth = decoded[1 - index] as Decoded;
  assert.equal(auth.type, 'user.authenticated');
  assert.deepEqual(auth.data, { user: { id: user.id } });
});

test('a sign-in with an existing user sends only user.authenticated (not subscribed events are not sent)', async () => {
  const start = hooks.received.length;
  await login(emu, 'user@example.test', baseAuthParams());
  const [only] = (await hooks.waitFor(start + 1)).slice(start);
  assert.equal((await decode(only?.body ?? '')).type, 'user.authenticated');
  await emu.webhooks.idle();
  assert.equal(hooks.received.length, start + 1);
});

test('a token from another emulator, or altered, does not decode', async () => {
  const other = await startEmulator({});
  try {
    const start = hooks.received.length;
    const { deliveries } = emu.webhooks.emitFor('user.created', { user: 'admin@example.test' });
    assert.equal(deliveries.length, 1);
    const last = (await hooks.waitFor(start + 1))[start]?.body ?? '';
    assert.equal(await decodeWebhook(last, other.issuerUrl), null);
    const [h, p, s] = last.split('.');
    const forged = Buffer.from(JSON.stringify({ type: 'user.deleted' })).toString('base64url');
    assert.equal(await decodeWebhook(`${h}.${forged}.${s}`, emu.issuerUrl), null);
    assert.equal((await decode(`${h}.${p}.${s}`)).type, 'user.created');
  } finally {
    await other.close();
  }
});

test('any event can be fired by hand over HTTP, with directory data or given data', async () => {
  const r = await new Receiver().start();
  try {
    const add = await control('POST', '', {
      endpoint: `${r.url}/all`,
      events: ['role.created', 'customer.plan_assigned'],
    });
    assert.equal(add.status, 201);
    const added = (await add.json()) as { id: string; origin: string };
    assert.match(added.id, /^webhook_[0-9a-f]{20}$/);
    assert.equal(added.origin, 'runtime');
    const fired = await control('POST', '/events', { type: 'role.created', role: 'admin' });
    assert.equal(fired.status, 202);
    const role = await decode((await r.waitFor(1))[0]?.body ?? '');
    assert.equal(role.type, 'role.created');
    assert.equal(role.source, 'admin');
    assert.deepEqual(role.data, {
      role: {
        description: '',
        id: '018ee9aa-0000-7000-8000-000000000001',
        is_default_role: false,
        key: 'admin',
        name: 'Admin',
      },
    });
    const billing = { customer: { id: 'cus_1' }, plan: { code: 'pro' } };
    assert.equal(
      (await control('POST', '/events', { type: 'customer.plan_assigned', data: billing, source: 'api' }))
        .status,
      202,
    );
    const plan = await decode((await r.waitFor(2))[1]?.body ?? '');
    assert.deepEqual([plan.type, plan.source, plan.data], ['customer.plan_assigned', 'api', billing]);
    const errors = [
      [{ type: 'customer.plan_assigned' }, /has no directory payload/],
      [{ type: 'user.exploded' }, /unknown event type/],
      [{ type: 'user.created', user: 'nobody@example.test' }, /no user "nobody@example.test"/],
      [{ type: 'user.created', source: 'robot' }, /"source" must be one of/],
      [{ type: 'user.created', data: [1] }, /"data" must be an object/],
    ] as const;
    for (const [payload, message] of errors) {
      const res = await control('POST', '/events', payload);
      assert.equal(res.status, 400, JSON.stringify(payload));
      assert.match(((await res.json()) as { error_description: string }).error_description, message);
    }
    assert.equal((await control('DELETE', `/${added.id}`)).status, 200);
    assert.equal((await control('DELETE', `/${added.id}`)).status, 404);
  } finally {
    await r.close();
  }
});

test('endpoints must be loopback without allowRemote: refused at the control call and at delivery', async () => {
  for (const endpoint of [
    'http://example.com/hook',
    'http://10.0.0.1/hook',
    'http://user:pw@127.0.0.1/x',
    'ftp://127.0.0.1/',
  ]) {
    const res = await control('POST', '', { endpoint, events: ['user.created'] });
    assert.equal(res.status, 400, endpoint);
  }
  assert.equal((await control('POST', '', { endpoint: `${hooks.url}/x`, events: [] })).status, 400);
  assert.equal((await control('POST', '', { endpoint: `${hooks.url}/x`, events: ['nope'] })).status, 400);
  const dir = defaultDirectory();
  dir.webhooks = [{ endpoint: 'http://example.com/hook', events: ['user.updated'] }];
  const remote = await startEmulator({ directory: dir });
  try {
    const { deliveries } = remote.webhooks.emitFor('user.updated');
    const [d] = remote.webhooks.deliveries();
    assert.equal(d?.id, deliveries[0]);
    assert.equal(d?.status, 'refused');
    assert.equal(d?.attempts.length, 0);
    assert.match(String(d?.lastError), /not a loopback URL/);
  } finally {
    await remote.close();
  }
  // idle() is bounded: a delivery waiting for a long retry makes it reject, not hang.
  const slow = await startEmulator({ webhooks: { retryDelaysMs: [60_000] } });
  const refusing = await new Receiver(() => 500).start();
  try {
    slow.webhooks.addEndpoint({ endpoint: `${refusing.url}/`, events: ['user.updated'] });
    slow.webhooks.emitFor('user.updated');
    await assert.rejects(slow.webhooks.idle(300), /still pending after 300 ms/);
    assert.equal(slow.webhooks.deliveries()[0]?.status, 'pending');
    assert.ok(slow.webhooks.deliveries()[0]?.nextAttemptAt);
  } finally {
    await slow.close();
    await refusing.close();
  }
  // With allowRemote the same endpoint is accepted (nothing is emitted here, so nothing is sent).
  const open = await startEmulator({ allowRemote: true });
  try {
    const added = open.webhooks.addEndpoint({
      endpoint: 'https://hooks.example.com/kinde',
      events: ['user.created'],
    });
    assert.equal(added.origin, 'runtime');
  } finally {
    await open.close();
  }
});

test('failed deliveries are retried with backoff up to the bound; the log shows attempts and codes, never the token', async () => {
  const r = await new Receiver((n) => (n < 2 ? 503 : 200)).start();
  const down = await new Receiver(() => 500).start();
  const moved = await new Receiver(() => 302).start();
  try {
    const ids = [r, down, moved].map(
      (x) => emu.webhooks.addEndpoint({ endpoint: `${x.url}/h`, events: ['organization.updated'] }).id,
    );
    const { deliveries } = emu.webhooks.emitFor('organization.updated', { org: 'org_0000000001' }, 'api');
    assert.equal(deliveries.length, 3);
    await emu.webhooks.idle();
    const log = emu.webhooks.deliveries().filter((d) => deliveries.includes(d.id));
    const byEndpoint = (x: Receiver) => log.find((d) => d.endpoint.startsWith(x.url));
    assert.deepEqual(
      byEndpoint(r)?.attempts.map((a) => a.responseCode),
      [503, 503, 200],
    );
    assert.equal(byEndpoint(r)?.status, 'delivered');
    assert.deepEqual(
      byEndpoint(down)?.attempts.map((a) => a.responseCode),
      [500, 500, 500],
    );
    assert.equal(byEndpoint(down)?.status, 'failed');
    assert.equal(byEndpoint(down)?.lastError, 'HTTP 500');
    assert.equal(byEndpoint(moved)?.status, 'failed');
    assert.ok(
      moved.received.every((x) => x.path === '/h'),
      'redirects are not followed',
    );
    assert.equal(r.received.length, 3);
    const ids1 = new Set(r.received.map((x) => x.headers['webhook-id']));
    assert.equal(ids1.size, 1, 'webhook-id is the same for every attempt');
    const jwt = r.received[0]?.body ?? '';
    assert.ok(!JSON.stringify(emu.webhooks.deliveries()).includes(jwt.split('.')[2] ?? 'x'));
    const listed = (await (await control('GET', '/deliveries')).json()) as { deliveries: { id: string }[] };
    assert.ok(deliveries.every((id) => listed.deliveries.some((d) => d.id === id)));
    for (const id of ids) emu.webhooks.removeEndpoint(id);
  } finally {
    await Promise.all([r.close(), down.close(), moved.close()]);
  }
});

test('a logged delivery can be replayed over HTTP: same event and webhook-id, a new log entry', async () => {
  const r = await new Receiver().start();
  try {
    const { id } = emu.webhooks.addEndpoint({ endpoint: `${r.url}/replay`, events: ['user.deleted'] });
    const { deliveries } = emu.webhooks.emitFor('user.deleted', { user: 'user@example.test' });
    await r.waitFor(1);
    const res = await control('POST', `/deliveries/${deliveries[0]}/replay`, {});
    assert.equal(res.status, 202);
    const replay = (await res.json()) as { id: string; replayOf: string };
    assert.equal(replay.replayOf, deliveries[0]);
    const [first, second] = await r.waitFor(2);
    assert.equal(first?.headers['webhook-id'], second?.headers['webhook-id']);
    const [a, b] = [await decode(first?.body ?? ''), await decode(second?.body ?? '')];
    assert.equal(a.event_id, b.event_id);
    assert.deepEqual(b.data, { user: { id: 'kp_fedcba9876543210fedcba9876543210' } });
    assert.equal((await control('POST', '/deliveries/delivery_nope/replay', {})).status, 404);
    emu.webhooks.removeEndpoint(id);
  } finally {
    await r.close();
  }
});

test('deliveries after a key rotation are signed with the new key and still decode', async () => {
  const r = await new Receiver().start();
  try {
    emu.webhooks.addEndpoint({ endpoint: `${r.url}/k`, events: ['permission.created'] });
    const key = await emu.control.rotateKeys();
    emu.webhooks.emitFor('permission.created', { permission: 'read:items' });
    const [got] = await r.waitFor(1);
    const header = JSON.parse(Buffer.from(got?.body.split('.')[0] ?? '', 'base64url').toString());
    assert.equal(header.kid, key.kid);
    const event = await decode(got?.body ?? '');
    assert.equal((event.data.permission as Record<string, unknown>).key, 'read:items');
  } finally {
    await r.close();
  }
});

test('the directory validates webhooks and names the bad field', () => {
  const base = { users: [{ email: 'a@example.test', givenName: 'A' }], applications: [{ clientId: 'app' }] };
  const cases: [unknown, string][] = [
    [[{ endpoint: 'not a url', events: ['user.created'] }], 'webhooks[0].endpoint'],
    [[{ endpoint: 'http://127.0.0.1/h', events: ['user.create'] }], 'webhooks[0].events[0]'],
    [[{ endpoint: 'http://127.0.0.1/h', events: [] }], 'webhooks[0].events'],
    [[{ endpoint: 'http://127.0.0.1/h', events: ['user.created'], secret: 'x' }], 'webhooks[0].secret'],
  ];
  for (const [webhooks, field] of cases) {
    assert.throws(
      () => validateDirectory({ ...base, webhooks }),
      (err: unknown) => err instanceof DirectoryError && err.field === field,
    );
  }
  const ok = validateDirectory({
    ...base,
    webhooks: [{ endpoint: 'http://127.0.0.1:9/h', events: ['user.created'] }],
  });
  assert.deepEqual(ok.webhooks, [{ endpoint: 'http://127.0.0.1:9/h', events: ['user.created'] }]);
});
