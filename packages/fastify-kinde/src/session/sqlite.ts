import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { GenerationalCache } from '../cache.js';
import { type Clock, nowOf } from '../clock.js';
import { KindeAuthError } from '../errors.js';
import { randomId } from './record.js';
import {
  isBusy,
  openSqlite,
  type SqliteConnection,
  type SqliteDriverName,
  type SqliteStatement,
  sqliteDriver,
} from './sqlite-driver.js';
import type { SessionStore, StoreEntry } from './store.js';

/** Options of {@link sqliteSessionStore}. */
export interface SqliteSessionStoreOptions {
  /** The database file; its folder is created. `:memory:` for a private in-memory database. Default `.data/sessions.db`. */
  path?: string;
  /** How often expired rows are deleted, in milliseconds. Default 60,000. */
  sweepIntervalMs?: number;
  /**
   * Parsed entries kept in process (least recently used first out), so a hot session costs no
   * query and no JSON parse. Exact across processes on one file: reads first ask SQLite whether
   * another connection committed (`PRAGMA data_version`, once per turn of the event loop, and again
   * after any write in this process), and if so drop the entries that changed. 0 turns it off.
   * Default 10,000.
   */
  cacheEntries?: number;
  /**
   * How long a write waits for another process's write to finish, in milliseconds; past it the
   * call fails with `ERR_STORE_UNAVAILABLE` (503). The wait blocks the event loop. Default 1,000.
   */
  busyTimeoutMs?: number;
  /**
   * The SQLite binding. `node:sqlite` (the default) is built into Node.js: nothing to install and
   * no install script to allow; on Node 22 Node prints one `ExperimentalWarning` for it per
   * process, on 24 none. `better-sqlite3` needs that package installed and its install script
   * allowed (it compiles a native addon for the Node that runs it). Both share the same SQL and
   * may open the same file together. Default `SESSION_SQLITE_DRIVER`, else `node:sqlite`.
   */
  driver?: SqliteDriverName;
  /** Where expiry reads the time (rows store their expiry in milliseconds). Default the system clock. */
  clock?: Clock;
}

/** The SQLite store: a {@link SessionStore} with `replace` and leases, safe for many processes on one file. */
export interface SqliteSessionStore<T extends object = object> extends SessionStore<T> {
  /** Deletes expired rows and leases, and trims the change log; answers how many sessions went. */
  sweep(): number;
  /** The connection, through the same small interface whichever driver runs it. */
  readonly database: SqliteConnection;
  get(id: string): StoreEntry<T> | undefined;
  set(id: string, value: T, ttlMs: number): void;
  touch(id: string, ttlMs: number): void;
  delete(id: string): boolean;
  replace(id: string, value: T, ttlMs: number): boolean;
  lock(id: string, ttlMs: number): string | undefined;
  unlock(id: string, token: string): void;
  close(): void;
}

export type { SqliteConnection, SqliteDriverName, SqliteStatement };

interface Row {
  value: string;
  expires_at: number;
}

interface Change {
  seq: number;
  id: string;
}

/** Change-log rows kept for processes that have not read for a while; one further behind starts cold. */
const CHANGE_LOG_ROWS = 10_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS kinde_sessions (
  id TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kinde_sessions_expires ON kinde_sessions (expires_at);
CREATE TABLE IF NOT EXISTS kinde_session_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kinde_session_leases (
  id TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;`;

/** Opens the file in WAL mode (readers never wait for the writer) and creates the tables. */
function open(driver: SqliteDriverName, path: string, busyTimeoutMs: number): SqliteConnection {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = openSqlite(driver, path, busyTimeoutMs);
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    // In one write transaction taken up front: processes starting together wait for each other.
    db.immediate(() => db.exec(SCHEMA));
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function statements(db: SqliteConnection) {
  return {
    select: db.prepare<Row>('SELECT value, expires_at FROM kinde_sessions WHERE id = ? AND expires_at > ?'),
    upsert: db.prepare(
      'INSERT INTO kinde_sessions (id, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at',
    ),
    update: db.prepare('UPDATE kinde_sessions SET value = ?, expires_at = ? WHERE id = ? AND expires_at > ?'),
    extend: db.prepare('UPDATE kinde_sessions SET expires_at = ? WHERE id = ? AND expires_at > ?'),
    remove: db.prepare('DELETE FROM kinde_sessions WHERE id = ? AND expires_at > ?'),
    removeAny: db.prepare('DELETE FROM kinde_sessions WHERE id = ?'),
    expired: db.prepare('DELETE FROM kinde_sessions WHERE expires_at <= ?'),
    logChange: db.prepare('INSERT INTO kinde_session_changes (id) VALUES (?)'),
    changesSince: db.prepare<Change>('SELECT seq, id FROM kinde_session_changes WHERE seq > ? ORDER BY seq'),
    lastChange: db.prepare<{ seq: number | null }>('SELECT max(seq) AS seq FROM kinde_session_changes'),
    trimChanges: db.prepare(
      'DELETE FROM kinde_session_changes WHERE seq <= (SELECT max(seq) FROM kinde_session_changes) - ?',
    ),
    dataVersion: db.prepare<{ data_version: number }>('PRAGMA data_version'),
    lease: db.prepare(
      `INSERT INTO kinde_session_leases (id, token, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at
       WHERE kinde_session_leases.expires_at <= ?`,
    ),
    release: db.prepare('DELETE FROM kinde_session_leases WHERE id = ? AND token = ?'),
    expiredLeases: db.prepare('DELETE FROM kinde_session_leases WHERE expires_at <= ?'),
  };
}

/** A file another process holds locked past the busy timeout is an outage (503), not a bug (500). */
function guarded<A extends unknown[], R>(work: (...args: A) => R): (...args: A) => R {
  return (...args) => {
    try {
      return work(...args);
    } catch (error) {
      if (!isBusy(error)) throw error;
      throw new KindeAuthError(
        'ERR_STORE_UNAVAILABLE',
        'The session store (SQLite) is locked by another process',
        {},
        { cause: error },
      );
    }
  };
}

/** Commits made by the SQLite stores of this process: a store whose count moved looks again. */
let writesHere = 0;

/**
 * Keeps the read cache exact while other processes write the same file. `PRAGMA data_version`
 * changes only when another connection commits; when it changed, the ids in the change log since the
 * last look are dropped from the cache.
 *
 * It is asked at most once per turn of the event loop (the answer is forgotten in the loop's check
 * phase, through one `setImmediate`), not on every read: the requests of one poll batch share one
 * look. A commit made before a request's bytes arrived is seen by that request, because the look
 * happens after the loop picked the request up; what another process commits while one batch is
 * being served is seen from the next turn on, as a commit racing a read always could be. A write by
 * any store of this process (another connection to the same file) makes the next read look again.
 */
function cacheSync<T>(sql: ReturnType<typeof statements>, cache: GenerationalCache<string, StoreEntry<T>>) {
  const dataVersion = () => sql.dataVersion.get()?.data_version;
  let version = dataVersion();
  let seen = sql.lastChange.get()?.seq ?? 0;
  let looked = false;
  let lookedAt = writesHere;
  const forget = () => {
    looked = false;
  };
  const look = () => {
    const now = dataVersion();
    if (now === version) return;
    version = now;
    const changes = sql.changesSince.all(seen);
    const first = changes[0];
    if (first === undefined) return;
    // Rows are numbered without gaps; a gap means the log was trimmed past us: start cold.
    if (first.seq !== seen + 1) cache.clear();
    else for (const change of changes) cache.delete(change.id);
    seen = changes.at(-1)!.seq;
  };
  return {
    /** Before a read from the cache: looks for other processes' commits once per loop turn. */
    sync() {
      if (looked && lookedAt === writesHere) return;
      look();
      lookedAt = writesHere;
      if (!looked) {
        looked = true;
        setImmediate(forget);
      }
    },
  };
}

/**
 * The default store: an embedded SQLite database (`node:sqlite`, or better-sqlite3) in WAL mode. Reads and writes are
 * synchronous, so the request hot path makes no promise; expired rows are swept on a timer.
 *
 * Several processes may share the file (cluster mode, PM2): every write is logged in a change log
 * that the other processes' caches read before they answer, `touch` and `replace` only change a
 * live row (a logged-out session is never written back), and `lock` takes a refresh lease in the
 * database, so one process refreshes a session's tokens and the others read its result.
 *
 * @example
 * ```ts
 * app.register(fastifyKinde, { sessionStore: sqliteSessionStore({ path: '/var/lib/app/sessions.db' }) });
 * ```
 */
export function sqliteSessionStore<T extends object = object>(
  options: SqliteSessionStoreOptions = {},
): SqliteSessionStore<T> {
  const path = options.path ?? '.data/sessions.db';
  const cacheEntries = options.cacheEntries ?? 10_000;
  if (!Number.isInteger(cacheEntries) || cacheEntries < 0)
    throw new TypeError('"cacheEntries" must be a whole number');
  const busyTimeoutMs = options.busyTimeoutMs ?? 1_000;
  const clockNow = nowOf(options.clock);
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0)
    throw new TypeError('"busyTimeoutMs" must be a whole number of milliseconds');

  const driver =
    options.driver === undefined
      ? sqliteDriver(process.env.SESSION_SQLITE_DRIVER, 'SESSION_SQLITE_DRIVER')
      : sqliteDriver(options.driver, '"driver"');
  const db = open(driver, path, busyTimeoutMs);
  const sql = statements(db);
  const cache = new GenerationalCache<string, StoreEntry<T>>(cacheEntries);
  const { sync } = cacheSync(sql, cache);
  const remember = (id: string, entry: StoreEntry<T>) => {
    if (cacheEntries > 0) cache.set(id, entry);
  };
  // A write and its change-log row commit together: no process sees one without the other.
  const logged = (id: string, write: () => number) => {
    writesHere++;
    return db.immediate(() => {
      const changes = write();
      if (changes > 0) sql.logChange.run(id);
      return changes;
    });
  };

  const sweep = guarded(() => {
    writesHere++;
    const now = clockNow();
    for (const [id, entry] of [...cache.entries()]) if (entry.expiresAt <= now) cache.delete(id);
    sql.expiredLeases.run(now);
    sql.trimChanges.run(CHANGE_LOG_ROWS);
    return sql.expired.run(now).changes;
  });
  const timer = setInterval(() => {
    try {
      sweep();
    } catch {
      // Busy now: the next sweep deletes what this one could not.
    }
  }, options.sweepIntervalMs ?? 60_000);
  timer.unref();

  return {
    database: db,
    sweep,
    get: guarded((id: string) => {
      const now = clockNow();
      if (cacheEntries > 0) {
        sync();
        const cached = cache.get(id);
        if (cached !== undefined && cached.expiresAt > now) return cached;
        cache.delete(id);
      }
      const row = sql.select.get(id, now);
      if (row === undefined) return undefined;
      const entry: StoreEntry<T> = { value: JSON.parse(row.value) as T, expiresAt: row.expires_at };
      remember(id, entry);
      return entry;
    }),
    set: guarded((id: string, value: T, ttlMs: number) => {
      const expiresAt = clockNow() + ttlMs;
      const json = JSON.stringify(value);
      logged(id, () => sql.upsert.run(id, json, expiresAt).changes);
      remember(id, { value, expiresAt });
    }),
    replace: guarded((id: string, value: T, ttlMs: number) => {
      const now = clockNow();
      const expiresAt = now + ttlMs;
      const json = JSON.stringify(value);
      const changed = logged(id, () => sql.update.run(json, expiresAt, id, now).changes) > 0;
      if (changed && expiresAt > now) remember(id, { value, expiresAt });
      else cache.delete(id);
      return changed && expiresAt > now;
    }),
    touch: guarded((id: string, ttlMs: number) => {
      const now = clockNow();
      const expiresAt = now + ttlMs;
      const cached = cache.get(id);
      writesHere++;
      // Only a live row is extended; when it is gone, so is the cached copy.
      if (sql.extend.run(expiresAt, id, now).changes === 0) cache.delete(id);
      else if (cached !== undefined) remember(id, { value: cached.value, expiresAt });
    }),
    delete: guarded((id: string) => {
      cache.delete(id);
      const now = clockNow();
      let live = 0;
      logged(id, () => {
        live = sql.remove.run(id, now).changes;
        // An expired row is not "live", but it goes too.
        return live > 0 ? live : sql.removeAny.run(id).changes;
      });
      return live > 0;
    }),
    lock: guarded((id: string, ttlMs: number) => {
      const now = clockNow();
      const token = randomId();
      writesHere++;
      if (sql.lease.run(id, token, now + Math.max(1, Math.ceil(ttlMs)), now).changes === 0) return undefined;
      // Whoever held the lease wrote before giving it back: read the file, not the cached copy.
      cache.delete(id);
      return token;
    }),
    unlock: guarded((id: string, token: string) => {
      writesHere++;
      sql.release.run(id, token);
    }),
    close() {
      clearInterval(timer);
      cache.clear();
      db.close();
    },
  };
}
