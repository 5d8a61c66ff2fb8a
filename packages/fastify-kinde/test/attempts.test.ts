import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { defaultDirectory } from 'kinde-emulator';
import { type Hop, HttpClient, pickUserRequest } from 'test-kit';
import fastifyKinde, { memorySessionStore, redisSessionStore, sqliteSessionStore } from '../src/index.js';
import { REDIS_URL, redisMissing, removeKeys, testPrefix } from './redis-kit.js';
import { type Rig, SECRET, startRig } from './setup.js';

const ADMIN = 'admin@example.test';
const USER = 'user@example.test';

/** The login-attempt cookies in a client's jar. */
function attemptCookies(client: HttpClient, appUrl: string): [string, string][] {
  return [...client.cookies(appUrl)].filter(([name]) => name.startsWith('kinde_login_'));
}

/** Starts a login in `client` up to the emulator's page (a tab showing the login page). */
async function openLogin(rig: Rig, client: HttpClient, path = '/api/auth/login') {
  const start = await client.request(`${rig.appUrl}${path}`);
  assert.equal(start.status, 302, start.body);
  const page = await client.request(start.location!);
  assert.equal(page.status, 200, 'the emulator shows its login page');
  return { state: new URL(start.location!).searchParams.get('state')!, page };
}

/** Picks the user on an open login page; answers the emulator's redirect to the callback. */
async function pick(client: HttpClient, page: Hop, email = ADMIN): Promise<string> {
  const picked = await pickUserRequest(client, page, email);
  assert.match(picked.location ?? '', /\/api\/auth\/kinde_callback\?/);
  return picked.location!;
}

/** Starts a login in `client` and stops at the emulator's redirect to the callback. */
async function startAndPick(rig: Rig, client: HttpClient, path = '/api/auth/login', email = ADMIN) {
  const { state, page } = await openLogin(rig, client, path);
  return { state, callback: await pick(client, page, email) };
}

/** Full-speed anonymous logins through the app (inject: no sockets), `concurrency` at a time. */
async function flood(rig: Rig, count: number, concurrency = 64): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const answer = await rig.app.inject({ method: 'GET', url: '/api/auth/login?returnTo=/x' });
      if (answer.statusCode !== 302) throw new Error(`login answered ${answer.statusCode}: ${answer.body}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Logs `count` browsers in; answers their clients. */
async function signIn(rig: Rig, count: number): Promise<HttpClient[]> {
  const clients: HttpClient[] = [];
  for (let i = 0; i < count; i++) {
    const client = new HttpClient();
    const { callback } = await startAndPick(rig, client, '/api/auth/login', i % 2 ? ADMIN : USER);
    assert.equal((await client.request(callback)).status, 302);
    clients.push(client);
  }
  return clients;
}

async function allAnswer200(rig: Rig, clients: HttpClient[]): Promise<void> {
  for (const client of clients) assert.equal((await client.request(`${rig.appUrl}/`)).status, 200);
}

describe('login floods never touch the session store', () => {
  test('100,000 anonymous logins: every session still answers 200, the memory store holds only them', {
    timeout: 300_000,
  }, async () => {
    // A bound below the flood: writing one attempt per login (as before) would evict every session.
    const store = memorySessionStore({ maxEntries: 50_000 });
    const rig = await startRig({ kinde: { sessionStore: store } });
    try {
      const clients = await signIn(rig, 20);
      // The 20 sessions and the per-user index entries of their two users (README "Signing users out everywhere").
      assert.equal(store.size, 22);
      const started = Date.now();
      await flood(rig, 100_000);
      const seconds = (Date.now() - started) / 1000;
      console.log(`# 100,000 anonymous logins in ${seconds.toFixed(1)} s`);
      assert.equal(store.size, 22, 'the store holds the 20 sessions, their users, and nothing else');
      await allAnswer200(rig, clients);
    } finally {
      await rig.close();
    }
  });

  test('SQLite: 5,000 anonymous logins add no row', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kinde-attempts-'));
    const path = join(dir, 'sessions.db');
    const store = sqliteSessionStore({ path });
    const rig = await startRig({ kinde: { sessionStore: store } });
    // Through the store's own connection: a second SQLite library in this process would not see its locks.
    const count = store.database.prepare<{ n: number }>('SELECT count(*) AS n FROM kinde_sessions');
    const rows = () => count.get()?.n;
    try {
      const clients = await signIn(rig, 3);
      assert.equal(rows(), 5, 'three sessions and the index entries of their two users');
      await flood(rig, 5_000);
      assert.equal(rows(), 5);
      await allAnswer200(rig, clients);
    } finally {
      await rig.close();
      await rig.app.kinde.store.close?.();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Redis: 5,000 anonymous logins add no key', { timeout: 120_000 }, async (t) => {
    const missing = await redisMissing();
    if (missing) return t.skip(missing);
    const prefix = testPrefix('attempts');
    const store = redisSessionStore({ url: REDIS_URL, prefix });
    const rig = await startRig({ kinde: { sessionStore: store } });
    const redis = new Redis(REDIS_URL);
    const keys = async () => (await redis.keys(`${prefix}*`)).length;
    try {
      const clients = await signIn(rig, 3);
      const before = await keys();
      assert.ok(before >= 3);
      await flood(rig, 5_000);
      assert.equal(await keys(), before);
      await allAnswer200(rig, clients);
    } finally {
      redis.disconnect();
      await rig.close();
      await store.close();
      await removeKeys(prefix);
    }
  });
});

describe('one attempt per state, bound to the browser', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig();
  });
  after(() => rig.close());

  test('two tabs logging in at once both succeed, each landing on its own returnTo', async () => {
    const browser = new HttpClient();
    // Both tabs show the provider's page before either signs in.
    const tabA = await openLogin(rig, browser, '/api/auth/login?returnTo=%2Fwhoami%3Ftab%3Da');
    const tabB = await openLogin(rig, browser, '/api/auth/login?returnTo=%2Fwhoami%3Ftab%3Db');
    const b2 = { state: tabB.state, callback: await pick(browser, tabB.page) };
    const a = { state: tabA.state, callback: await pick(browser, tabA.page) };
    assert.notEqual(a.state, b2.state);
    assert.equal(attemptCookies(browser, rig.appUrl).length, 2);
    const second = await browser.request(b2.callback);
    assert.equal(second.status, 302, second.body);
    assert.equal(second.headers.get('location'), '/whoami?tab=b');
    const first = await browser.request(a.callback);
    assert.equal(first.status, 302, first.body);
    assert.equal(first.headers.get('location'), '/whoami?tab=a');
    assert.equal(attemptCookies(browser, rig.appUrl).length, 0, 'each callback cleared its own cookie');
    assert.equal((await browser.request(`${rig.appUrl}/`)).status, 200);
  });

  test('a callback whose state matches no attempt leaves the attempts in progress alone', async () => {
    const browser = new HttpClient();
    const pending = await startAndPick(rig, browser);
    const cookiesBefore = attemptCookies(browser, rig.appUrl);
    // Another site sends the browser to the callback: someone else's state, a made-up one, none.
    const stranger = await startAndPick(rig, new HttpClient());
    for (const query of [new URL(stranger.callback).search, '?code=x&state=made-up', '?code=x', '']) {
      const answer = await browser.request(`${rig.appUrl}/api/auth/kinde_callback${query}`);
      assert.equal(answer.status, 400, query);
      assert.equal(answer.headers.getSetCookie().length, 0, `${query}: no cookie is touched`);
    }
    assert.deepEqual(attemptCookies(browser, rig.appUrl), cookiesBefore);
    const done = await browser.request(pending.callback);
    assert.equal(done.status, 302, done.body);
    assert.equal((await browser.request(`${rig.appUrl}/`)).status, 200);
  });

  test('the cookie is sealed, HttpOnly, Lax, limited to the auth routes and to 10 minutes', async () => {
    const client = new HttpClient();
    const start = await client.request(`${rig.appUrl}/api/auth/login?returnTo=%2Fsecret-place`);
    const state = new URL(start.location!).searchParams.get('state')!;
    const [line] = start.headers.getSetCookie();
    assert.match(line ?? '', /^kinde_login_[A-Za-z0-9_-]{12}=/);
    assert.match(line ?? '', /; Max-Age=600/);
    assert.match(line ?? '', /; Path=\/api\/auth(;|$)/);
    assert.match(line ?? '', /; HttpOnly/);
    assert.match(line ?? '', /; SameSite=Lax/);
    const value = decodeURIComponent(line!.slice(line!.indexOf('=') + 1, line!.indexOf(';')));
    const raw = Buffer.from(value, 'base64url').toString('latin1');
    for (const secret of [state, 'secret-place', new URL(start.location!).searchParams.get('nonce')!]) {
      assert.ok(!value.includes(secret) && !raw.includes(secret), 'nothing of the attempt shows');
    }
  });

  test('an altered, moved or stray-bit cookie is refused and creates no session', async () => {
    const client = new HttpClient();
    const { callback } = await startAndPick(rig, client);
    const [[name, value]] = attemptCookies(client, rig.appUrl) as [[string, string]];
    const flipped = `${value.slice(0, 20)}${value[20] === 'A' ? 'B' : 'A'}${value.slice(21)}`;
    // The last base64url character may carry spare bits: another spelling of the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = `${value.slice(0, -1)}${alphabet[alphabet.indexOf(value.at(-1)!) ^ 1]}`;
    for (const forged of [flipped, twin, `${value}x`, `${value}=`, 'garbage', value.slice(0, 30)]) {
      const attacker = new HttpClient();
      attacker.cookies(rig.appUrl).set(name, forged);
      const answer = await attacker.request(callback, { headers: { accept: 'application/json' } });
      assert.equal(answer.status, 400, forged);
      assert.equal(JSON.parse(answer.body).code, 'ERR_STATE_MISMATCH', forged);
      assert.equal(attacker.cookies(rig.appUrl).get('kinde_session'), undefined);
    }
    // Sealed for another state: moved under this state's name, it is refused.
    const stranger = new HttpClient();
    await startAndPick(rig, stranger);
    const [[, strangerValue]] = attemptCookies(stranger, rig.appUrl) as [[string, string]];
    const mover = new HttpClient();
    mover.cookies(rig.appUrl).set(name, strangerValue);
    const moved = await mover.request(callback, { headers: { accept: 'application/json' } });
    assert.equal(JSON.parse(moved.body).code, 'ERR_STATE_MISMATCH');
    assert.equal((await client.request(callback)).status, 302, 'the real one still works');
  });

  test('at most 5 attempts per browser: the oldest are dropped, the newest 5 work', async () => {
    const browser = new HttpClient();
    const started = [];
    for (let i = 0; i < 7; i++)
      started.push(await openLogin(rig, browser, `/api/auth/login?returnTo=%2F${i}`));
    assert.equal(attemptCookies(browser, rig.appUrl).length, 5);
    for (const [i, attempt] of started.entries()) {
      const callback = await pick(browser, attempt.page);
      const answer = await browser.request(callback, { headers: { accept: 'application/json' } });
      if (i < 2) assert.equal(JSON.parse(answer.body).code, 'ERR_STATE_MISSING', `attempt ${i}`);
      else assert.equal(answer.headers.get('location'), `/${i}`, `attempt ${i}`);
    }
  });

  test('long returnTo values: the attempts of one browser stay within 8 KB, the newest kept', async () => {
    const browser = new HttpClient();
    const long = (i: number) => `/${i}${'x'.repeat(2_000)}`;
    const started = [];
    for (let i = 0; i < 5; i++) {
      started.push(await openLogin(rig, browser, `/api/auth/login?returnTo=${encodeURIComponent(long(i))}`));
    }
    const cookies = attemptCookies(browser, rig.appUrl);
    const bytes = cookies.reduce((sum, [name, value]) => sum + name.length + value.length, 0);
    assert.ok(cookies.length >= 2 && bytes <= 8_192, `${cookies.length} cookies, ${bytes} bytes`);
    const newest = started.at(-1)!;
    const answer = await browser.request(await pick(browser, newest.page));
    assert.equal(answer.headers.get('location'), long(4));
  });

  test('an attempt older than 10 minutes is refused as expired', async () => {
    const client = new HttpClient();
    const { callback } = await startAndPick(rig, client);
    const [[name, value]] = attemptCookies(client, rig.appUrl) as [[string, string]];
    mock.timers.enable({ apis: ['Date'], now: Date.now() + 10 * 60_000 + 1_000 });
    try {
      const answer = await rig.app.inject({
        url: new URL(callback).pathname + new URL(callback).search,
        headers: { cookie: `${name}=${value}`, accept: 'application/json' },
      });
      assert.equal(answer.statusCode, 400);
      assert.equal(answer.json().code, 'ERR_LOGIN_EXPIRED');
    } finally {
      mock.timers.reset();
    }
  });
});

describe('attempt cookies across instances and secrets', () => {
  test('another instance opens a cookie sealed under a rotated-out secret; a replay there is refused by the provider', async () => {
    const NEW = 'a-new-session-secret-0123456789abcdef';
    const rig = await startRig();
    const application = defaultDirectory().applications[0]!;
    const peer = Fastify();
    await peer.register(fastifyKinde, {
      issuerUrl: rig.emulator.issuerUrl,
      clientId: application.clientId,
      clientSecret: application.clientSecret,
      siteUrl: rig.appUrl,
      sessionSecret: [NEW, SECRET],
      sessionStore: 'memory',
      env: {},
    });
    const stranger = Fastify();
    await stranger.register(fastifyKinde, {
      issuerUrl: rig.emulator.issuerUrl,
      clientId: application.clientId,
      siteUrl: rig.appUrl,
      sessionSecret: NEW,
      sessionStore: 'memory',
      env: {},
    });
    try {
      const client = new HttpClient();
      const { callback } = await startAndPick(rig, client);
      const [[name, value]] = attemptCookies(client, rig.appUrl) as [[string, string]];
      const url = new URL(callback);
      const inject = (app: typeof peer) =>
        app.inject({
          url: url.pathname + url.search,
          headers: { cookie: `${name}=${value}`, accept: 'application/json' },
        });
      assert.equal((await inject(stranger)).json().code, 'ERR_STATE_MISMATCH', 'unknown secret');
      const done = await inject(peer);
      assert.equal(done.statusCode, 302, done.body);
      const replay = await rig.app.inject({
        url: url.pathname + url.search,
        headers: { cookie: `${name}=${value}`, accept: 'application/json' },
      });
      assert.equal(replay.statusCode, 400);
      assert.equal(replay.json().code, 'ERR_CODE_EXCHANGE', 'the code is single-use at the provider');
    } finally {
      await peer.close();
      await stranger.close();
      await rig.close();
    }
  });

  test('an https site names the cookie __Secure- and marks it Secure', async () => {
    const rig = await startRig();
    const application = defaultDirectory().applications[0]!;
    const app = Fastify();
    await app.register(fastifyKinde, {
      issuerUrl: rig.emulator.issuerUrl,
      clientId: application.clientId,
      siteUrl: 'https://app.example',
      sessionSecret: SECRET,
      sessionStore: 'memory',
      env: {},
    });
    try {
      const answer = await app.inject({ url: '/api/auth/login' });
      const [line] = answer.headers['set-cookie'] ? [answer.headers['set-cookie']].flat() : [];
      assert.match(line ?? '', /^__Secure-kinde_login_[A-Za-z0-9_-]{12}=.*; Path=\/api\/auth; .*Secure/);
    } finally {
      await app.close();
      await rig.close();
    }
  });
});
