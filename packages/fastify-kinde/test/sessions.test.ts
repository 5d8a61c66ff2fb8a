import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { HttpClient, login } from 'test-kit';
import { resolveConfig } from '../src/config.js';
import { KindeAuthError, sqliteSessionStore } from '../src/index.js';
import { createCookieSigner } from '../src/session/signer.js';
import { SQLITE_DRIVERS } from '../src/session/sqlite-driver.js';
import { testClock } from '../src/testing/clock.js';
import { type Rig, SECRET, startRig } from './setup.js';

describe('session lifetime and cookies', () => {
  const rigs: Rig[] = [];
  const dirs: string[] = [];
  after(async () => {
    await Promise.all(rigs.map((r) => r.close()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('an idle session ends after the idle timeout', async () => {
    const rig = await startRig({ kinde: { idleTimeout: 1 } });
    rigs.push(rig);
    const client = new HttpClient();
    await login(client, rig.appUrl, 'admin@example.test');
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 200);
    rig.advance(1_200);
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 401);
  });

  test('activity keeps a session alive, but not past its absolute lifetime', async () => {
    const rig = await startRig({ kinde: { idleTimeout: 1, absoluteTimeout: 2 } });
    rigs.push(rig);
    const client = new HttpClient();
    await login(client, rig.appUrl, 'admin@example.test');
    for (let i = 0; i < 3; i++) {
      rig.advance(500);
      assert.equal(
        (await client.request(`${rig.appUrl}/`)).status,
        200,
        `request ${i} within the idle window`,
      );
    }
    rig.advance(700);
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 401);
  });

  test('a cookie signed with a rotated-out secret still works and is signed again', async () => {
    const OLD = 'the-previous-session-secret-0123456789';
    const rig = await startRig({ kinde: { sessionSecret: [SECRET, OLD] } });
    rigs.push(rig);
    const client = new HttpClient();
    await login(client, rig.appUrl, 'admin@example.test');
    const current = client.cookies(rig.appUrl).get('kinde_session')!;
    const id = createCookieSigner([SECRET]).unsign(decodeURIComponent(current))!.value;
    const oldCookie = encodeURIComponent(createCookieSigner([OLD]).sign(id));
    const response = await fetch(`${rig.appUrl}/`, { headers: { cookie: `kinde_session=${oldCookie}` } });
    assert.equal(response.status, 200);
    const renewed = response.headers.getSetCookie().find((c) => c.startsWith('kinde_session='));
    assert.ok(renewed, 'the cookie is signed again');
    assert.equal(renewed.split(';')[0], `kinde_session=${current}`);
    const unknown = encodeURIComponent(createCookieSigner(['some-other-secret-0123456789abcdef']).sign(id));
    const refused = await fetch(`${rig.appUrl}/`, { headers: { cookie: `kinde_session=${unknown}` } });
    assert.equal(refused.status, 401);
  });

  test('sessions in SQLite survive the app: a second app on the same file sees them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kinde-sqlite-'));
    dirs.push(dir);
    const path = join(dir, 'nested', 'sessions.db');
    const rig = await startRig({
      kinde: { sessionStore: sqliteSessionStore({ path, driver: 'node:sqlite' }) },
    });
    rigs.push(rig);
    const client = new HttpClient();
    await login(client, rig.appUrl, 'admin@example.test');
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 200);
    const cookie = client.cookies(rig.appUrl).get('kinde_session')!;
    const other = await startRig({ kinde: { sessionStore: sqliteSessionStore({ path, cacheEntries: 0 }) } });
    rigs.push(other);
    const seen = await fetch(`${other.appUrl}/`, { headers: { cookie: `kinde_session=${cookie}` } });
    assert.equal(seen.status, 200);
    await client.follow(`${rig.appUrl}/api/auth/logout`);
    const gone = await fetch(`${other.appUrl}/`, { headers: { cookie: `kinde_session=${cookie}` } });
    assert.equal(gone.status, 401, 'logout deleted the row');
  });
});

for (const driver of SQLITE_DRIVERS) {
  describe(`SQLite store (${driver})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'kinde-sqlite-unit-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('stores, touches, expires, deletes and sweeps', async () => {
      const clock = testClock();
      const store = sqliteSessionStore<{ n: number }>({
        path: join(dir, 'a', `${driver}.db`),
        driver,
        clock,
      });
      try {
        assert.equal(store.database.driver, driver);
        assert.deepEqual(
          { ...store.database.prepare<object>('PRAGMA journal_mode').get() },
          { journal_mode: 'wal' },
        );
        store.set('a', { n: 1 }, 60_000);
        store.set('short', { n: 2 }, 30);
        assert.deepEqual((store.get('a') as { value: unknown }).value, { n: 1 });
        const before = (store.get('a') as { expiresAt: number }).expiresAt;
        clock.advance(40);
        store.touch('a', 120_000);
        assert.ok((store.get('a') as { expiresAt: number }).expiresAt > before);
        assert.equal(store.get('short'), undefined);
        assert.equal(store.sweep(), 1, 'the expired row is swept');
        assert.equal(store.delete('a'), true);
        assert.equal(store.delete('a'), false);
        assert.equal(store.get('a'), undefined);
      } finally {
        await store.close?.();
      }
    });

    test('a reopened file keeps what was written, with and without the cache', async () => {
      const path = join(dir, `reopen-${driver}.db`);
      const first = sqliteSessionStore<{ n: number }>({ path, driver });
      first.set('x', { n: 7 }, 60_000);
      await first.close?.();
      const second = sqliteSessionStore<{ n: number }>({ path, cacheEntries: 0, driver });
      assert.deepEqual((second.get('x') as { value: unknown }).value, { n: 7 });
      await second.close?.();
    });

    test('refuses a nonsensical cache size', () => {
      assert.throws(
        () => sqliteSessionStore({ path: ':memory:', cacheEntries: -1, driver }),
        /"cacheEntries" must be a whole number/,
      );
    });
  });
}

describe('SQLite store drivers', () => {
  test('a driver that is not known is a configuration error naming both', () => {
    assert.throws(
      // @ts-expect-error: a name the types refuse, as JavaScript or an environment variable could give
      () => sqliteSessionStore({ path: ':memory:', driver: 'sqlite3' }),
      (e: unknown) =>
        e instanceof KindeAuthError &&
        e.code === 'ERR_CONFIG' &&
        e.message === '"driver" must be "node:sqlite" or "better-sqlite3"; got "sqlite3"',
    );
  });

  test('SESSION_SQLITE_DRIVER is read with the other variables, and a wrong one stops registration', () => {
    const base = { issuerUrl: 'http://127.0.0.1:1', clientId: 'c', siteUrl: 'http://127.0.0.1:2' };
    assert.deepEqual(resolveConfig({ ...base, env: {} }).store, {
      kind: 'sqlite',
      path: '.data/sessions.db',
      driver: 'node:sqlite',
    });
    const chosen = resolveConfig({ ...base, env: { SESSION_SQLITE_DRIVER: 'better-sqlite3' } }).store;
    assert.equal((chosen as { driver?: string }).driver, 'better-sqlite3');
    assert.throws(
      () => resolveConfig({ ...base, env: { SESSION_SQLITE_DRIVER: 'sqlite' } }),
      /^KindeAuthError: SESSION_SQLITE_DRIVER must be "node:sqlite" or "better-sqlite3"; got "sqlite"$/,
    );
  });

  test('SESSION_SQLITE_DRIVER chooses the driver when the option does not', () => {
    const saved = process.env.SESSION_SQLITE_DRIVER;
    try {
      for (const driver of SQLITE_DRIVERS) {
        process.env.SESSION_SQLITE_DRIVER = driver;
        const store = sqliteSessionStore({ path: ':memory:' });
        assert.equal(store.database.driver, driver);
        store.close();
      }
      process.env.SESSION_SQLITE_DRIVER = 'bogus';
      assert.throws(
        () => sqliteSessionStore({ path: ':memory:' }),
        /^KindeAuthError: SESSION_SQLITE_DRIVER must be/,
      );
      delete process.env.SESSION_SQLITE_DRIVER;
      const store = sqliteSessionStore({ path: ':memory:' });
      assert.equal(store.database.driver, 'node:sqlite', 'the default');
      store.close();
    } finally {
      if (saved === undefined) delete process.env.SESSION_SQLITE_DRIVER;
      else process.env.SESSION_SQLITE_DRIVER = saved;
    }
  });
});
