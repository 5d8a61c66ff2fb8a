import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, HttpClient, login, within } from 'test-kit';
import { type PostgresSessionStore, postgresSessionStore } from '../src/index.js';
import { load } from './load-kit.js';
import { PostgresServer, postgresServerMissing } from './postgres-kit.js';
import { type Rig, startRig } from './setup.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const UNAVAILABLE = '{"detail":"Session store unavailable"}';
const QUERY_TIMEOUT_MS = 300;
const HEARTBEAT_MS = 100;

const skip = postgresServerMissing();

describe('PostgreSQL faults (a private server, stopped and restarted)', () => {
  let server: PostgresServer;
  const rigs: Rig[] = [];
  const stores: PostgresSessionStore[] = [];

  before(async () => {
    if (skip) return;
    server = new PostgresServer(await freePort());
    server.init();
    await server.start();
    // The tables are made once here, with the default query timeout: on a fresh cluster of a loaded
    // machine, creating them can take longer than the 300 ms the stores under test allow every query.
    // Their own start-up then finds them made.
    const setup = postgresSessionStore({ connectionString: server.url, localCache: false });
    await setup.ready();
    await setup.close();
  });
  after(async () => {
    for (const rig of rigs.reverse()) await rig.close();
    await Promise.all(stores.map((store) => store.close()));
    await server?.close();
  });

  /**
   * The store's start-up, retried as the store itself retries it on the next call: on a loaded machine
   * a first connection to the private cluster can miss the 300 ms these stores allow (CI saw both
   * `Query read timeout` and `connection timeout` there). The faults come later, with the store running.
   */
  async function started(store: PostgresSessionStore) {
    for (let attempt = 1; ; attempt++) {
      try {
        await store.ready();
        return;
      } catch (error) {
        if (attempt === 5) throw error;
        await sleep(200);
      }
    }
  }

  async function app(sharedEmulator?: Rig['emulator']) {
    const store = postgresSessionStore({
      connectionString: server.url,
      queryTimeoutMs: QUERY_TIMEOUT_MS,
      localCache: { heartbeatMs: HEARTBEAT_MS },
      maxConnections: 4,
    });
    stores.push(store);
    await started(store);
    const rig = await startRig({ sharedEmulator, kinde: { sessionStore: store } });
    rigs.push(rig);
    await store.ready();
    return rig;
  }

  test('database stopped under load: 503 at once, never a 500 or a 401, and recovery by itself', {
    skip,
  }, async (t) => {
    const a = await app();
    const b = await app(a.emulator);
    const client = new HttpClient();
    await login(client, a.appUrl, 'admin@example.test');
    const cookie = `kinde_session=${client.cookies(a.appUrl).get('kinde_session')}`;
    assert.equal((await fetch(`${b.appUrl}/`, { headers: { cookie } })).status, 200);

    const traffic = load(`${a.appUrl}/`, cookie, 4);
    await sleep(300);
    await server.kill();
    const killedAt = traffic.now();
    // Login attempts live in sealed cookies, not in the store (issue 10): a login still starts.
    const loginPage = await fetch(`${a.appUrl}/api/auth/login`, { redirect: 'manual' });
    assert.equal(loginPage.status, 302, 'a login starts without the store');
    const logout = await fetch(`${b.appUrl}/api/auth/logout`, { redirect: 'manual', headers: { cookie } });
    assert.equal(logout.status, 503, 'a logout that cannot delete the session says so');
    assert.equal(logout.headers.getSetCookie().length, 0, 'and keeps the cookie: the session still exists');
    await sleep(700);
    const restartingAt = traffic.now();
    await server.start();
    const restartedAt = traffic.now();
    const recoveredAt = await traffic.recovered(restartedAt, 3_000);
    await sleep(200);
    await traffic.stop();

    const results = traffic.results;
    const statuses = [...new Set(results.map((r) => r.status))].sort();
    assert.deepEqual(statuses, [200, 503], 'only 200 and 503, never a 500 or a 401');
    for (const r of results.filter((r) => r.status === 503)) assert.equal(r.body, UNAVAILABLE);
    const slowest = Math.max(...results.filter((r) => r.status === 503).map((r) => r.ms));
    assert.ok(slowest < QUERY_TIMEOUT_MS + 200, `a 503 took ${slowest.toFixed(0)} ms`);
    assert.deepEqual(
      results.slice(-8).map((r) => r.status),
      Array(8).fill(200),
      'recovered',
    );
    // The listening connection is cut with the server: nothing is served from the cache meanwhile.
    const down = results.filter((r) => r.at > killedAt + 100 && r.at + r.ms < restartingAt);
    assert.ok(down.length > 0, 'requests were sent while the database was down');
    assert.deepEqual(
      down.filter((r) => r.status !== 503).map((r) => `${r.status} at +${(r.at - killedAt).toFixed(0)} ms`),
      [],
      'no session is served while the database is down',
    );
    t.diagnostic(
      `${results.length} requests; slowest 503 ${slowest.toFixed(0)} ms; ` +
        `first 200 ${(recoveredAt - restartedAt).toFixed(0)} ms after PostgreSQL was back`,
    );

    // Both caches listen again: a logout on B is refused by A within 100 ms (the session ends here).
    await Promise.all(stores.map((store) => store.ready()));
    const started = performance.now();
    await within(2_000, () => stores.every((store) => store.cache?.usable === true), 5);
    assert.equal((await fetch(`${a.appUrl}/`, { headers: { cookie } })).status, 200);
    const out = await fetch(`${b.appUrl}/api/auth/logout`, { redirect: 'manual', headers: { cookie } });
    assert.equal(out.status, 302);
    const loggedOutAt = performance.now();
    await within(100, async () => (await fetch(`${a.appUrl}/`, { headers: { cookie } })).status === 401, 5);
    t.diagnostic(
      `caches listening again ${(loggedOutAt - started).toFixed(0)} ms later; logout seen by A within ${(performance.now() - loggedOutAt).toFixed(0)} ms`,
    );
  });

  test('a frozen database (SIGSTOP) answers 503 within the query timeout, and recovers when thawed', {
    skip,
  }, async (t) => {
    const a = rigs[0] ?? (await app());
    const client = new HttpClient();
    await login(client, a.appUrl, 'admin@example.test');
    const cookie = `kinde_session=${client.cookies(a.appUrl).get('kinde_session')}`;
    const traffic = load(`${a.appUrl}/`, cookie, 4);
    await sleep(300);
    server.freeze(true);
    const frozenAt = traffic.now();
    await sleep(1_000);
    server.freeze(false);
    const thawedAt = traffic.now();
    const recoveredAt = await traffic.recovered(thawedAt, 3_000);
    await sleep(200);
    await traffic.stop();
    const results = traffic.results;
    assert.deepEqual([...new Set(results.map((r) => r.status))].sort(), [200, 503], 'only 200 and 503');
    const slowest = Math.max(...results.filter((r) => r.status === 503).map((r) => r.ms));
    assert.ok(slowest < QUERY_TIMEOUT_MS + 250, `a 503 took ${slowest.toFixed(0)} ms`);
    // The cache may answer until its heartbeat has gone unanswered for 2 × HEARTBEAT_MS; not after.
    const late = results.filter((r) => r.at > frozenAt + 2 * HEARTBEAT_MS + 50 && r.at + r.ms < thawedAt);
    assert.ok(late.length > 0 && late.every((r) => r.status === 503), 'the cache stops answering');
    assert.deepEqual(
      results.slice(-8).map((r) => r.status),
      Array(8).fill(200),
      'recovered',
    );
    t.diagnostic(
      `${results.length} requests; slowest 503 ${slowest.toFixed(0)} ms; ` +
        `first 200 ${(recoveredAt - thawedAt).toFixed(0)} ms after the thaw`,
    );
  });
});
