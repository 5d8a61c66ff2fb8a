import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { GenerationalCache } from '../cache.js';
import type { SessionStore, StoreEntry } from './store.js';

/** Options of {@link sqliteSessionStore}. */
export interface SqliteSessionStoreOptions {
  /** The database file; its folder is created. `:memory:` for a private in-memory database. Default `.data/sessions.db`. */
  path?: string;
  /** How often expired rows are deleted, in milliseconds. Default 60,000. */
  sweepIntervalMs?: number;
  /**
   * Parsed entries kept in process (least recently used first out), so a hot session costs no
   * query and no JSON parse. Writes through this store keep it exact; only one process may write
   * the file while it is on (use the Redis store for many instances). 0 turns it off. Default 10,000.
   */
  cacheEntries?: number;
}

interface Row {
  value: string;
  expires_at: number;
}

/**
 * The default store: an embedded SQLite database (better-sqlite3) in WAL mode. Reads and writes are
 * synchronous, so the request hot path makes no promise; expired rows are swept on a timer.
 *
 * @example
 * ```ts
 * app.register(fastifyKinde, { sessionStore: sqliteSessionStore({ path: '/var/lib/app/sessions.db' }) });
 * ```
 */
export function sqliteSessionStore<T extends object = object>(
  options: SqliteSessionStoreOptions = {},
): SessionStore<T> & { sweep(): number; readonly database: Database.Database } {
  const path = options.path ?? '.data/sessions.db';
  const cacheEntries = options.cacheEntries ?? 10_000;
  if (!Number.isInteger(cacheEntries) || cacheEntries < 0)
    throw new TypeError('"cacheEntries" must be a whole number');
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });

  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE IF NOT EXISTS kinde_sessions (
    id TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS kinde_sessions_expires ON kinde_sessions (expires_at);`);

  const select = db.prepare<[string, number], Row>(
    'SELECT value, expires_at FROM kinde_sessions WHERE id = ? AND expires_at > ?',
  );
  const upsert = db.prepare<[string, string, number]>(
    'INSERT INTO kinde_sessions (id, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at',
  );
  const extend = db.prepare<[number, string, number]>(
    'UPDATE kinde_sessions SET expires_at = ? WHERE id = ? AND expires_at > ?',
  );
  const remove = db.prepare<[string, number]>('DELETE FROM kinde_sessions WHERE id = ? AND expires_at > ?');
  const removeAny = db.prepare<[string]>('DELETE FROM kinde_sessions WHERE id = ?');
  const expired = db.prepare<[number]>('DELETE FROM kinde_sessions WHERE expires_at <= ?');

  const cache = new GenerationalCache<string, StoreEntry<T>>(cacheEntries);
  const remember = (id: string, entry: StoreEntry<T>) => {
    if (cacheEntries > 0) cache.set(id, entry);
  };

  const sweep = () => {
    const now = Date.now();
    for (const [id, entry] of [...cache.entries()]) if (entry.expiresAt <= now) cache.delete(id);
    return expired.run(now).changes;
  };
  const timer = setInterval(sweep, options.sweepIntervalMs ?? 60_000);
  timer.unref();

  return {
    database: db,
    sweep,
    get(id) {
      const now = Date.now();
      const cached = cache.get(id);
      if (cached !== undefined && cached.expiresAt > now) return cached;
      cache.delete(id);
      const row = select.get(id, now);
      if (row === undefined) return undefined;
      const entry: StoreEntry<T> = { value: JSON.parse(row.value) as T, expiresAt: row.expires_at };
      remember(id, entry);
      return entry;
    },
    set(id, value, ttlMs) {
      const expiresAt = Date.now() + ttlMs;
      upsert.run(id, JSON.stringify(value), expiresAt);
      remember(id, { value, expiresAt });
    },
    touch(id, ttlMs) {
      const now = Date.now();
      const expiresAt = now + ttlMs;
      extend.run(expiresAt, id, now);
      const cached = cache.get(id);
      if (cached !== undefined) remember(id, { value: cached.value, expiresAt });
    },
    delete(id) {
      cache.delete(id);
      const changes = remove.run(id, Date.now()).changes;
      if (changes === 0) removeAny.run(id);
      return changes > 0;
    },
    close() {
      clearInterval(timer);
      cache.clear();
      if (db.open) db.close();
    },
  };
}
