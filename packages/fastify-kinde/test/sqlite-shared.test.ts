/**
 * The SQLite store with two connections on one file, as two processes would have: each with its
 * own read cache. (Real processes: sqlite-multiprocess.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { KindeAuthError, type SqliteSessionStore, sqliteSessionStore } from '../src/index.js';
import { SQLITE_DRIVERS, type SqliteDriverName } from '../src/session/sqlite-driver.js';
import { testClock } from '../src/testing/clock.js';

const dir = mkdtempSync(join(tmpdir(), 'kinde-sqlite-shared-'));
let files = 0;
const opened: SqliteSessionStore<{ n: number }>[] = [];

/** Two stores on a new file, both through `driver`. */
function pair(driver: SqliteDriverName, options: { cacheEntries?: number } = {}) {
  const path = join(dir, `s${files++}.db`);
  const clock = testClock();
  const a = sqliteSessionStore<{ n: number }>({ path, driver, clock, ...options });
  const b = sqliteSessionStore<{ n: number }>({ path, driver, clock, ...options });
  opened.push(a, b);
  return { a, b, path, clock };
}

const value = (store: SqliteSessionStore<{ n: number }>, id: string) => store.get(id)?.value.n;

for (const driver of SQLITE_DRIVERS) {
  describe(`SQLite store, two connections on one file (${driver})`, () => {
    after(() => {
      for (const store of opened) store.close?.();
      rmSync(dir, { recursive: true, force: true });
    });

    test('a delete through one is seen by the other’s next read, though it had the entry cached', () => {
      const { a, b } = pair(driver);
      a.set('s', { n: 1 }, 60_000);
      assert.equal(value(b, 's'), 1);
      assert.equal(value(b, 's'), 1, 'cached');
      assert.equal(a.delete('s'), true);
      assert.equal(b.get('s'), undefined);
      assert.equal(b.delete('s'), false, 'deleted once');
    });

    test('a write through one is read by the other, not its cached copy', () => {
      const { a, b } = pair(driver);
      a.set('s', { n: 1 }, 60_000);
      assert.equal(value(b, 's'), 1);
      a.set('s', { n: 2 }, 60_000);
      assert.equal(value(b, 's'), 2);
      assert.equal(a.replace('s', { n: 3 }, 60_000), true);
      assert.equal(value(b, 's'), 3);
      // Entries nobody changed stay cached: the same object comes back.
      a.set('other', { n: 9 }, 60_000);
      assert.equal(b.get('other'), b.get('other'));
    });

    test('after a delete elsewhere, touch and replace through a stale cache do not bring the row back', () => {
      const { a, b } = pair(driver);
      a.set('s', { n: 1 }, 60_000);
      assert.equal(value(b, 's'), 1);
      a.delete('s');
      b.touch('s', 60_000);
      assert.equal(b.replace('s', { n: 2 }, 60_000), false);
      assert.equal(a.get('s'), undefined);
      assert.equal(b.get('s'), undefined);
      assert.deepEqual(
        { ...a.database.prepare<object>("SELECT count(*) AS n FROM kinde_sessions WHERE id = 's'").get() },
        { n: 0 },
      );
    });

    test('touch drops the local copy when the row is gone, whatever the change log says', () => {
      const { a, b } = pair(driver);
      a.set('s', { n: 1 }, 60_000);
      assert.equal(value(b, 's'), 1);
      // A delete that bypasses the change log: b's cache is not told, only its touch finds out.
      a.database.exec("DELETE FROM kinde_sessions WHERE id = 's'");
      b.touch('s', 60_000);
      assert.equal(b.get('s'), undefined);
    });

    test('replace writes only over a live entry, and an expired one counts as gone', async () => {
      const { a, b, clock } = pair(driver);
      assert.equal(a.replace('missing', { n: 1 }, 60_000), false);
      assert.equal(a.get('missing'), undefined);
      a.set('short', { n: 1 }, 30);
      clock.advance(50);
      assert.equal(b.replace('short', { n: 2 }, 60_000), false);
      assert.equal(a.get('short'), undefined);
      a.set('s', { n: 1 }, 60_000);
      assert.equal(a.replace('s', { n: 2 }, 0), false, 'a replace with no time left ends it');
      assert.equal(b.get('s'), undefined);
    });

    test('a lease is held across connections until it is released or expires', async () => {
      const { a, b, clock } = pair(driver);
      const token = a.lock('s', 10_000);
      assert.ok(token);
      assert.equal(b.lock('s', 10_000), undefined);
      assert.equal(a.lock('s', 10_000), undefined, 'not reentrant');
      b.unlock('s', 'not-the-token');
      assert.equal(b.lock('s', 10_000), undefined, 'a wrong token releases nothing');
      a.unlock('s', token);
      const next = b.lock('s', 40);
      assert.ok(next, 'released');
      assert.notEqual(next, token);
      clock.advance(60);
      const taken = a.lock('s', 10_000);
      assert.ok(taken, 'an expired lease is taken over');
      b.unlock('s', next);
      assert.equal(b.lock('s', 10_000), undefined, 'the old holder cannot release the new lease');
      assert.ok(b.lock('other', 10_000), 'leases are per id');
    });

    test('taking a lease drops the local copy: the holder reads what the last holder wrote', () => {
      const { a, b } = pair(driver);
      a.set('s', { n: 1 }, 60_000);
      assert.equal(value(b, 's'), 1);
      // A write that bypasses the change log (as an older version would): only the lease reads it.
      a.database.prepare("UPDATE kinde_sessions SET value = '{\"n\":2}' WHERE id = 's'").run();
      assert.equal(value(b, 's'), 1, 'the cache did not see it');
      assert.ok(b.lock('s', 1_000));
      assert.equal(value(b, 's'), 2);
    });

    test('a process far behind the trimmed change log starts cold', () => {
      const { a, b } = pair(driver);
      a.set('s', { n: 1 }, 60_000);
      assert.equal(value(b, 's'), 1);
      a.database.exec("UPDATE kinde_sessions SET value = '{\"n\":2}' WHERE id = 's'");
      // Twelve thousand changes to other ids, then the sweep trims the log past b's position.
      const log = a.database.prepare('INSERT INTO kinde_session_changes (id) VALUES (?)');
      a.database.immediate(() => {
        for (let i = 0; i < 12_000; i++) log.run(`x${i}`);
      });
      a.sweep();
      assert.equal(value(b, 's'), 2);
    });

    test('sweep deletes expired sessions and leases', async () => {
      const { a, b, clock } = pair(driver);
      a.set('gone', { n: 1 }, 20);
      a.set('kept', { n: 2 }, 60_000);
      assert.ok(a.lock('gone', 20));
      clock.advance(40);
      assert.equal(b.sweep(), 1);
      assert.deepEqual(
        { ...a.database.prepare<object>('SELECT count(*) AS n FROM kinde_session_leases').get() },
        { n: 0 },
      );
      assert.equal(value(a, 'kept'), 2);
    });

    test('without a cache, both read the file every time', () => {
      const { a, b } = pair(driver, { cacheEntries: 0 });
      a.set('s', { n: 1 }, 60_000);
      assert.equal(value(b, 's'), 1);
      a.delete('s');
      assert.equal(b.get('s'), undefined);
    });

    test('a file locked by another process past the busy timeout is a 503, not a 500', () => {
      const path = join(dir, `s${files++}.db`);
      const store = sqliteSessionStore<{ n: number }>({ path, busyTimeoutMs: 50, driver });
      opened.push(store);
      const holder = sqliteSessionStore<{ n: number }>({ path, driver });
      opened.push(holder);
      holder.database.exec('BEGIN IMMEDIATE');
      try {
        assert.throws(
          () => store.set('s', { n: 1 }, 60_000),
          (error: unknown) => error instanceof KindeAuthError && error.code === 'ERR_STORE_UNAVAILABLE',
        );
        assert.equal(store.get('s'), undefined, 'reads do not wait for the writer');
      } finally {
        holder.database.exec('ROLLBACK');
      }
      store.set('s', { n: 1 }, 60_000);
      assert.equal(value(holder, 's'), 1);
    });

    test('options are checked', () => {
      assert.throws(
        () => sqliteSessionStore({ path: ':memory:', busyTimeoutMs: -1, driver }),
        /"busyTimeoutMs"/,
      );
      assert.throws(
        () => sqliteSessionStore({ path: ':memory:', cacheEntries: 1.5, driver }),
        /"cacheEntries"/,
      );
    });
  });
}

describe('SQLite store, both drivers in one process', () => {
  test('one file is refused through the second driver while the first has it open, and allowed once it closed', () => {
    const path = join(dir, `mixed${files++}.db`);
    const first = sqliteSessionStore<{ n: number }>({ path, driver: 'node:sqlite' });
    first.set('s', { n: 1 }, 60_000);
    // Through another spelling of the same path, too.
    const spelled = join(dir, '.', `../${basename(dir)}`, basename(path));
    assert.throws(
      () => sqliteSessionStore({ path: spelled, driver: 'better-sqlite3' }),
      (e: unknown) =>
        e instanceof KindeAuthError &&
        e.code === 'ERR_CONFIG' &&
        e.message.includes('is already open in this process through "node:sqlite"'),
    );
    const same = sqliteSessionStore<{ n: number }>({ path, driver: 'node:sqlite' });
    assert.equal(value(same, 's'), 1, 'the same driver may open it again');
    same.close();
    first.close();
    const next = sqliteSessionStore<{ n: number }>({ path, driver: 'better-sqlite3' });
    opened.push(next);
    assert.equal(value(next, 's'), 1, 'what the other driver wrote');
  });
});
