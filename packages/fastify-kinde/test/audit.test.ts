import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { defaultDirectory, startEmulator } from 'kinde-emulator';
import { freePort, type Hop, HttpClient } from 'test-kit';
import fastifyKinde, { type AuthEvent, type KindeOptions, requireAuth } from '../src/index.js';
import { testClock } from '../src/testing/clock.js';
import { advanceBoth, SECRET } from './setup.js';

const ADMIN = 'admin@example.test';

/** An app whose audit events (callback and pino lines) are kept for the test to read. */
interface AuditRig {
  emulator: Awaited<ReturnType<typeof startEmulator>>;
  app: FastifyInstance;
  appUrl: string;
  events: AuthEvent[];
  /** Every pino line, parsed. */
  lines: Record<string, unknown>[];
  /** Moves time for the app and the emulator. */
  advance(ms: number): void;
  close(): Promise<void>;
}

async function startAuditRig(
  kinde: Partial<KindeOptions> = {},
  emulatorOptions: Partial<Parameters<typeof startEmulator>[0]> = {},
): Promise<AuditRig> {
  const emulator = await startEmulator({ port: 0, headlessLogin: true, ...emulatorOptions });
  const application = defaultDirectory().applications[0]!;
  const port = await freePort();
  const appUrl = `http://127.0.0.1:${port}`;
  const events: AuthEvent[] = [];
  const lines: Record<string, unknown>[] = [];
  const stream = { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) };
  const app = Fastify({ logger: { level: 'info', stream } });
  const clock = testClock();
  await app.register(fastifyKinde, {
    clock,
    issuerUrl: emulator.issuerUrl,
    clientId: application.clientId,
    clientSecret: application.clientSecret,
    siteUrl: appUrl,
    sessionSecret: SECRET,
    sessionStore: 'memory',
    env: {},
    onAuthEvent: (event) => events.push(event),
    ...kinde,
  });
  app.get('/', { onRequest: requireAuth() }, () => ({ Hello: 'World' }));
  app.get('/whoami', (request) => ({
    token: request.kinde.getAccessToken(),
    id: request.kinde.getIdToken(),
  }));
  await app.listen({ port, host: '127.0.0.1' });
  return {
    emulator,
    app,
    appUrl,
    events,
    lines,
    advance: (ms) => advanceBoth(clock, emulator, ms),
    async close() {
      await app.close();
      await emulator.close();
    },
  };
}

/** Signs in headlessly; returns the client, and every secret value the flow handled. */
async function signIn(rig: AuditRig): Promise<{ client: HttpClient; hops: Hop[]; secrets: string[] }> {
  const client = new HttpClient();
  const hops = await client.follow(`${rig.appUrl}/api/auth/login?login_hint=${ADMIN}`);
  assert.equal(hops.at(-1)?.status, 200, hops.at(-1)?.body);
  const callback = hops.find((hop) => hop.url.includes('/api/auth/kinde_callback'));
  assert.ok(callback, 'the flow passed the callback');
  const query = new URL(callback.url).searchParams;
  const who = JSON.parse((await client.request(`${rig.appUrl}/whoami`)).body) as {
    token: string;
    id: string;
  };
  const secrets = [
    query.get('code')!,
    query.get('state')!,
    who.token,
    who.id,
    client.cookies(rig.appUrl).get('kinde_session')!,
  ];
  return { client, hops, secrets };
}

/** Fails when any event or log line carries one of `secrets` (or the configured secrets). */
function assertNoSecrets(rig: AuditRig, secrets: string[]): void {
  const application = defaultDirectory().applications[0]!;
  const all = [...secrets, SECRET, application.clientSecret!].filter((s) => s && s.length >= 8);
  const text = JSON.stringify(rig.events) + JSON.stringify(rig.lines);
  for (const secret of all) {
    assert.ok(!text.includes(secret), `a secret (${secret.slice(0, 6)}…) appears in an event or a log line`);
    // Also its signature part alone (a JWT's tail), which a careless "redaction" might keep.
    const tail = secret.split('.').at(-1)!;
    if (tail.length >= 16) assert.ok(!text.includes(tail), 'a token signature appears in an event');
  }
}

type EventOf<T extends AuthEvent['type']> = Extract<AuthEvent, { type: T }>;
const ofType = <T extends AuthEvent['type']>(rig: AuditRig, type: T): EventOf<T>[] =>
  rig.events.filter((e): e is EventOf<T> => e.type === type);

describe('audit events of a browser session', () => {
  let rig: AuditRig;
  before(async () => {
    rig = await startAuditRig();
  });
  after(() => rig.close());

  test('login started, login completed and logout fire once each, with the right fields, and no secret', async () => {
    rig.events.length = 0;
    const { client, secrets } = await signIn(rig);
    const sub = defaultDirectory().users.find((u) => u.email === ADMIN)!.id;
    const [started, ...moreStarted] = ofType(rig, 'login.started');
    assert.equal(moreStarted.length, 0);
    assert.equal(started?.method, 'login');
    const completed = ofType(rig, 'login.completed');
    assert.equal(completed.length, 1);
    assert.equal(completed[0]!.userId, sub);
    assert.equal(completed[0]!.method, 'login');
    assert.equal(typeof completed[0]!.requestId, 'string');
    assert.equal(completed[0]!.ip, '127.0.0.1');
    assert.ok(!Number.isNaN(Date.parse(completed[0]!.time)));

    const out = await client.request(`${rig.appUrl}/api/auth/logout`, {
      method: 'POST',
      headers: { origin: rig.appUrl, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    assert.equal(out.status, 303);
    assert.deepEqual(
      ofType(rig, 'logout').map((e) => e.userId),
      [sub],
    );
    // The same events reach pino at info, under `authEvent`.
    const logged = rig.lines.filter((l) => l.authEvent !== undefined);
    assert.deepEqual(
      logged.map((l) => (l.authEvent as AuthEvent).type),
      ['login.started', 'login.completed', 'logout'],
    );
    assert.ok(logged.every((l) => l.level === 30));
    assertNoSecrets(rig, secrets);
  });

  test('revokeUser is one "session.revoked" event naming the user and how many sessions ended', async () => {
    rig.events.length = 0;
    const first = await signIn(rig);
    const second = await signIn(rig);
    const sub = defaultDirectory().users.find((u) => u.email === ADMIN)!.id;
    const ended = await rig.app.kinde.revokeUser(sub);
    assert.ok(ended >= 2, `ended ${ended}`);
    const revoked = ofType(rig, 'session.revoked');
    assert.equal(revoked.length, 1);
    assert.equal(revoked[0]!.userId, sub);
    assert.equal(revoked[0]!.sessions, ended);
    assert.equal((await first.client.request(`${rig.appUrl}/`)).status, 401);
    assertNoSecrets(rig, [...first.secrets, ...second.secrets]);
  });

  test('register and create_org name their method', async () => {
    rig.events.length = 0;
    const client = new HttpClient();
    await client.request(`${rig.appUrl}/api/auth/register`);
    await client.request(`${rig.appUrl}/api/auth/create_org?org_name=Acme`);
    assert.deepEqual(
      ofType(rig, 'login.started').map((e) => e.method),
      ['register', 'create_org'],
    );
    assert.equal(rig.events.length, 2);
  });

  test('a callback with a wrong state, a provider error or a bad code is refused, with a stable reason', async () => {
    rig.events.length = 0;
    const client = new HttpClient();
    const start = await client.request(`${rig.appUrl}/api/auth/login`);
    const state = new URL(start.location!).searchParams.get('state')!;
    const callback = `${rig.appUrl}/api/auth/kinde_callback`;
    const bogusCode = 'bogus-code-0123456789abcdef';
    const answers = [
      await client.request(`${callback}?code=${bogusCode}&state=not-the-state`),
      await client.request(`${callback}?error=access_denied&error_description=no&state=${state}`),
    ];
    const again = await client.request(`${rig.appUrl}/api/auth/login`);
    const state2 = new URL(again.location!).searchParams.get('state')!;
    answers.push(await client.request(`${callback}?code=${bogusCode}&state=${state2}`));
    for (const answer of answers) assert.equal(answer.status, 400, answer.body);
    const refused = ofType(rig, 'login.refused');
    assert.equal(refused.length, 3);
    assert.ok(['ERR_STATE_MISMATCH', 'ERR_STATE_MISSING'].includes(refused[0]?.reason ?? ''));
    assert.equal(refused[1]?.reason, 'ERR_PROVIDER_ERROR');
    assert.equal(refused[1]?.providerError, 'access_denied');
    assert.equal(refused[2]?.reason, 'ERR_CODE_EXCHANGE');
    assertNoSecrets(rig, [bogusCode, state, state2]);
  });

  test('a refused bearer token: one event per request, with the reason, never the token', async () => {
    rig.events.length = 0;
    const { access_token: token } = await rig.emulator.control.issueTokens({ user: ADMIN });
    const forged = `${token.slice(0, -4)}AAAA`;
    for (const authorization of [`Bearer ${forged}`, 'Bearer not-a-jwt']) {
      const answer = await fetch(`${rig.appUrl}/`, { headers: { authorization } });
      assert.equal(answer.status, 401);
    }
    const good = await fetch(`${rig.appUrl}/`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(good.status, 200);
    const refused = ofType(rig, 'bearer.refused');
    assert.equal(refused.length, 2);
    assert.ok(refused.every((e) => e.reason === 'ERR_TOKEN_INVALID'));
    assert.equal(refused[1]?.detail, 'the bearer token is malformed');
    assertNoSecrets(rig, [token, forged]);
  });
});

describe('audit events of refresh and expiry', () => {
  const rigs: AuditRig[] = [];
  after(() => Promise.all(rigs.map((r) => r.close())));

  test('a refresh shared by concurrent requests is one "ok" event', async () => {
    const rig = await startAuditRig({}, { accessTokenTtl: 7 });
    rigs.push(rig);
    const { client, secrets } = await signIn(rig);
    rig.advance(2_500);
    const answers = await Promise.all(Array.from({ length: 10 }, () => client.request(`${rig.appUrl}/`)));
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
    const refreshes = ofType(rig, 'refresh').map((e) => e.outcome);
    assert.deepEqual(refreshes, ['ok']);
    const fresh = JSON.parse((await client.request(`${rig.appUrl}/whoami`)).body) as { token: string };
    assertNoSecrets(rig, [...secrets, fresh.token]);
  });

  test('a refresh the provider refuses is one "refused" event; an unreachable provider is "provider_down"', async () => {
    // The refresh token outlives the sign-in on a loaded machine (the emulator's clock runs in real
    // time too: a 1 s refresh token could expire during the sign-in's own refresh), then is moved past.
    const rig = await startAuditRig({}, { accessTokenTtl: 2, refreshTokenTtl: 30 });
    rigs.push(rig);
    const { client } = await signIn(rig);
    rig.events.length = 0; // a 2 s token is refreshed at once, while signing in
    rig.advance(31_000);
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 401);
    assert.deepEqual(
      ofType(rig, 'refresh').map((e) => e.outcome),
      ['refused'],
    );

    const down = await startAuditRig({}, { accessTokenTtl: 1 });
    rigs.push(down);
    const second = await signIn(down);
    down.events.length = 0;
    down.emulator.control.failTokenEndpoint({ mode: 'down' });
    down.advance(1_100);
    // Several requests: the first asks the provider; the others are refused during the backoff, unasked.
    for (let i = 0; i < 5; i++) assert.equal((await second.client.request(`${down.appUrl}/`)).status, 503);
    assert.deepEqual(
      ofType(down, 'refresh').map((e) => e.outcome),
      ['provider_down'],
    );
    const userId = defaultDirectory().users.find((u) => u.email === ADMIN)!.id;
    assert.ok(ofType(down, 'refresh').every((e) => e.userId === userId));
    assertNoSecrets(down, second.secrets);
  });

  test('a session past its lifetime: one "session.expired" event (the cookie is cleared)', async () => {
    const rig = await startAuditRig({ absoluteTimeout: 1 });
    rigs.push(rig);
    const { client } = await signIn(rig);
    rig.advance(1_100);
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 401);
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 401);
    const expired = ofType(rig, 'session.expired');
    assert.equal(expired.length, 1);
    // The memory store drops the entry at its TTL (which the absolute lifetime caps): gone, not seen.
    assert.equal(expired[0]?.reason, 'not_found');
  });
});

describe('a throwing onAuthEvent', () => {
  test('breaks no request, and is logged once', async () => {
    let calls = 0;
    const rig = await startAuditRig({
      onAuthEvent: () => {
        calls++;
        throw new Error('audit sink down');
      },
    });
    try {
      const { client } = await signIn(rig);
      assert.equal((await client.request(`${rig.appUrl}/`)).status, 200);
      const bad = await fetch(`${rig.appUrl}/`, { headers: { authorization: 'Bearer x.y.z' } });
      assert.equal(bad.status, 401);
      const out = await client.request(`${rig.appUrl}/api/auth/logout`, {
        method: 'POST',
        headers: { origin: rig.appUrl, 'content-type': 'application/x-www-form-urlencoded' },
        body: '',
      });
      assert.equal(out.status, 303);
      assert.equal(calls, 4, 'login started, completed, bearer refused, logout');
      const complaints = rig.lines.filter((l) => String(l.msg).includes('onAuthEvent threw'));
      assert.equal(complaints.length, 1);
      assert.equal(complaints[0]!.level, 50);
      // The pino lines still went out.
      assert.equal(rig.lines.filter((l) => l.authEvent !== undefined).length, 4);
    } finally {
      await rig.close();
    }
  });

  test('auditLogLevel false keeps audit lines out of the log; the callback still gets them', async () => {
    const rig = await startAuditRig({ auditLogLevel: false });
    try {
      await signIn(rig);
      assert.equal(rig.events.length, 2);
      assert.equal(rig.lines.filter((l) => l.authEvent !== undefined).length, 0);
    } finally {
      await rig.close();
    }
  });
});
