import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { defaultDirectory } from 'kinde-emulator';
import { HttpClient, login, within } from 'test-kit';
import { postgresSessionStore, redisSessionStore, requireAuth, type SessionStore } from '../src/index.js';
import { DATABASE_URL, dropTables, postgresMissing, testTable } from './postgres-kit.js';
import { REDIS_URL, redisMissing, removeKeys, testPrefix } from './redis-kit.js';
import { type Rig, startRig } from './setup.js';

const ADMIN = 'admin@example.test';
const redisSkip = await redisMissing();
const postgresSkip = await postgresMissing();

/** Polls `check` until it holds; answers the milliseconds it took, or throws past `boundMs`. */
/** Routes that use the API: the caller's sessions, and signing the caller out everywhere. */
function routes(app: Rig['app']) {
  app.get('/sessions', { onRequest: requireAuth() }, (request) =>
    app.kinde.sessionsOf(request.kinde.getUser()!.id),
  );
  app.post('/sign-out-everywhere', async (request) => ({ ended: await request.kinde.signOutEverywhere() }));
}

/** Calls the emulator's Management API with a client_credentials token. */
async function management(rig: Rig, method: string, path: string): Promise<Response> {
  const application = defaultDirectory().applications[0]!;
  const tokenAnswer = await fetch(`${rig.emulator.issuerUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: application.clientId,
      client_secret: application.clientSecret!,
      audience: `${rig.emulator.issuerUrl}/api`,
    }),
  });
  const { access_token } = (await tokenAnswer.json()) as { access_token: string };
  return fetch(`${rig.emulator.issuerUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${access_token}` },
  });
}

async function signedIn(rig: Rig): Promise<HttpClient> {
  const client = new HttpClient();
  await login(client, rig.appUrl, ADMIN);
  assert.equal((await client.request(`${rig.appUrl}/`)).status, 200);
  return client;
}

describe('signing a user out everywhere', () => {
  const rigs: Rig[] = [];
  after(async () => {
    for (const rig of rigs.reverse()) await rig.close();
  });

  test('sessionsOf lists a user’s sessions without secrets; signOutEverywhere ends them all', async () => {
    const rig = await startRig({ routes });
    rigs.push(rig);
    const [one, two] = [await signedIn(rig), await signedIn(rig)];
    const listed = JSON.parse((await one.request(`${rig.appUrl}/sessions`)).body) as Record<
      string,
      unknown
    >[];
    assert.equal(listed.length, 2);
    const cookie = one.cookies(rig.appUrl).get('kinde_session')!;
    for (const s of listed) {
      assert.deepEqual(Object.keys(s).sort(), ['createdAt', 'expiresAt', 'handle', 'lastSeenAt', 'orgCode']);
      assert.ok(!JSON.stringify(s).includes(cookie.split('.')[0]!), 'no session id');
    }
    const anonymous = await fetch(`${rig.appUrl}/sign-out-everywhere`, { method: 'POST' });
    assert.equal(anonymous.status, 401, 'only a session can sign itself out everywhere');
    const answer = await one.request(`${rig.appUrl}/sign-out-everywhere`, { method: 'POST' });
    assert.equal(answer.status, 200, answer.body);
    assert.deepEqual(JSON.parse(answer.body), { ended: 2 });
    assert.equal((await one.request(`${rig.appUrl}/`)).status, 401);
    assert.equal((await two.request(`${rig.appUrl}/`)).status, 401, 'the other browser too');
    await assert.rejects(rig.app.kinde.revokeUser(''), { code: 'ERR_BAD_REQUEST' });
    assert.equal(await rig.app.kinde.revokeUser('kp_nobody'), 0);
  });

  /** Two instances' stores over one Redis prefix or one PostgreSQL table, each with its local cache. */
  const backends = [
    {
      name: 'Redis',
      skip: redisSkip,
      open(scope: string): SessionStore & { close(): Promise<void> } {
        return redisSessionStore({ url: REDIS_URL, prefix: scope, localCache: true });
      },
      scope: () => testPrefix('revoke'),
      cleanup: (scope: string) => removeKeys(scope),
    },
    {
      name: 'PostgreSQL',
      skip: postgresSkip,
      open(scope: string): SessionStore & { close(): Promise<void> } {
        return postgresSessionStore({ connectionString: DATABASE_URL, table: scope, localCache: true });
      },
      scope: () => testTable('revoke'),
      cleanup: (scope: string) => dropTables(scope),
    },
  ];

  for (const backend of backends) {
    test(`a user deleted in Kinde (Management API) is signed out of two instances on ${backend.name} within one second`, {
      skip: backend.skip,
    }, async (t) => {
      const scope = backend.scope();
      const stores: (SessionStore & { close(): Promise<void> })[] = [];
      const store = () => {
        const made = backend.open(scope);
        stores.push(made);
        return made;
      };
      try {
        const kinde = { webhooks: { path: '/api/auth/webhooks' } };
        const a = await startRig({
          emulator: { headlessLogin: true },
          kinde: { ...kinde, sessionStore: store() },
        });
        rigs.push(a);
        const b = await startRig({ sharedEmulator: a.emulator, kinde: { ...kinde, sessionStore: store() } });
        rigs.push(b);
        a.emulator.webhooks.addEndpoint({
          endpoint: `${a.appUrl}/api/auth/webhooks`,
          events: ['user.deleted'],
        });
        const client = await signedIn(a);
        assert.equal(
          (await client.request(`${b.appUrl}/`)).status,
          200,
          'B serves the session (and caches it)',
        );
        const whoami = JSON.parse((await client.request(`${b.appUrl}/whoami`)).body) as {
          user: { id: string };
        };
        const cookie = `kinde_session=${client.cookies(a.appUrl).get('kinde_session')}`;

        const start = performance.now();
        const deleted = await management(a, 'DELETE', `/user?id=${encodeURIComponent(whoami.user.id)}`);
        assert.equal(deleted.status, 200, await deleted.text());
        const refused = (url: string) => async () =>
          (await fetch(`${url}/`, { headers: { cookie } })).status === 401;
        await within(1_000, refused(a.appUrl), 2);
        await within(1_000, refused(b.appUrl), 2);
        const elapsed = performance.now() - start;
        assert.ok(
          elapsed < 1_000,
          `both instances refused the session ${elapsed.toFixed(0)} ms after the deletion`,
        );
        t.diagnostic(
          `${backend.name}: revoke-to-401 on both instances: ${elapsed.toFixed(1)} ms from asking for the deletion (M2M token + DELETE /api/v1/user)`,
        );
        await a.emulator.webhooks.idle();
        const [delivery] = a.emulator.webhooks.deliveries();
        assert.equal(delivery?.status, 'delivered');
      } finally {
        await Promise.all(stores.map((s) => s.close()));
        await backend.cleanup(scope);
      }
    });
  }

  test('a permission taken in Kinde is gone from the next request; a removed membership ends the session', async () => {
    const rig = await startRig({
      emulator: { headlessLogin: true },
      kinde: { webhooks: { path: '/api/auth/webhooks' } },
    });
    rigs.push(rig);
    rig.emulator.webhooks.addEndpoint({
      endpoint: `${rig.appUrl}/api/auth/webhooks`,
      events: ['user.updated'],
    });
    const client = await signedIn(rig);
    const whoami = JSON.parse((await client.request(`${rig.appUrl}/whoami`)).body) as {
      user: { id: string };
    };
    const member = `/organizations/org_0000000001/users/${encodeURIComponent(whoami.user.id)}`;
    assert.equal((await client.request(`${rig.appUrl}/admin`)).status, 200, 'delete:items is granted');
    const taken = await management(rig, 'DELETE', `${member}/permissions/perm_delete:items`);
    assert.equal(taken.status, 200, await taken.text());
    await rig.emulator.webhooks.idle();
    assert.equal((await client.request(`${rig.appUrl}/admin`)).status, 403, 'the session renewed its tokens');
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 200, 'and is still signed in');
    const removed = await management(rig, 'DELETE', member);
    assert.equal(removed.status, 200, await removed.text());
    await rig.emulator.webhooks.idle();
    assert.equal(
      (await client.request(`${rig.appUrl}/`)).status,
      401,
      'signed in to an organization it left',
    );
    assert.deepEqual(
      rig.emulator.webhooks.deliveries().map((d) => d.status),
      ['delivered', 'delivered'],
    );
  });
});
