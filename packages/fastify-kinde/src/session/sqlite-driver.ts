import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, resolve } from 'node:path';
import { KindeAuthError } from '../errors.js';

/** Which SQLite binding the store talks through. */
export type SqliteDriverName = 'node:sqlite' | 'better-sqlite3';

/** The drivers the SQLite session store can run on; the first is the default. */
export const SQLITE_DRIVERS: readonly SqliteDriverName[] = ['node:sqlite', 'better-sqlite3'];

/** A prepared statement, the same for both drivers. */
export interface SqliteStatement<Row = unknown> {
  run(...params: (string | number)[]): { changes: number };
  get(...params: (string | number)[]): Row | undefined;
  all(...params: (string | number)[]): Row[];
}

/** The connection of a SQLite store: the few calls the store makes, whichever driver runs them. */
export interface SqliteConnection {
  /** The driver behind this connection. */
  readonly driver: SqliteDriverName;
  /** Whether the connection is still open. */
  readonly open: boolean;
  prepare<Row = unknown>(sql: string): SqliteStatement<Row>;
  /** Runs one or more statements that return nothing. */
  exec(sql: string): void;
  /** Runs `work` in a write transaction taken up front (`BEGIN IMMEDIATE`); a throw rolls it back. */
  immediate<R>(work: () => R): R;
  close(): void;
}

/** The part of either driver's statement object the adapter calls. */
interface NativeStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

interface NativeDatabase {
  prepare(sql: string): NativeStatement;
  exec(sql: string): unknown;
  close(): void;
}

const require = createRequire(import.meta.url);

/** better-sqlite3 is there but its addon is not: built for another Node, or never built. */
function addonMissing(cause: unknown): KindeAuthError {
  return new KindeAuthError(
    'ERR_CONFIG',
    `better-sqlite3 is installed but its native addon does not load in Node.js ${process.version} (built for another Node, or its install script did not run): npm rebuild better-sqlite3, with its install script allowed (npm install-scripts approve better-sqlite3)`,
    {},
    { cause },
  );
}

/** Loads the driver's database class, with an error that says what to install or upgrade. */
function loadDriver(driver: SqliteDriverName): new (path: string) => NativeDatabase {
  try {
    // node:sqlite types `changes` as number | bigint; it is a bigint only with readBigInts, off here.
    const native =
      driver === 'node:sqlite'
        ? (require('node:sqlite') as typeof import('node:sqlite')).DatabaseSync
        : require('better-sqlite3');
    return native as new (
      path: string,
    ) => NativeDatabase;
  } catch (cause) {
    if (driver === 'better-sqlite3' && (cause as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND')
      throw addonMissing(cause);
    const message =
      driver === 'node:sqlite'
        ? `The SQLite session store's driver "node:sqlite" needs Node.js 22.13 or later (this is ${process.version}); upgrade Node, or install better-sqlite3 and set driver "better-sqlite3" (SESSION_SQLITE_DRIVER=better-sqlite3)`
        : 'The SQLite session store\'s driver "better-sqlite3" needs the "better-sqlite3" package: npm install better-sqlite3 (and allow its install script: npm install-scripts approve better-sqlite3), or use the built-in driver "node:sqlite"';
    throw new KindeAuthError('ERR_CONFIG', message, {}, { cause });
  }
}

/**
 * Opens the file. better-sqlite3 loads its addon at the first open, not when it is required, so a
 * missing or mismatched addon shows here: any error that is not SQLite's own (SQLITE_CANTOPEN, …).
 */
function openNative(driver: SqliteDriverName, Database: new (path: string) => NativeDatabase, path: string) {
  try {
    return new Database(path);
  } catch (cause) {
    const code = (cause as { code?: unknown }).code;
    if (driver === 'better-sqlite3' && !(typeof code === 'string' && code.startsWith('SQLITE_')))
      throw addonMissing(cause);
    throw cause;
  }
}

/**
 * Both drivers' statements already answer alike: `changes` a number (neither reads big integers
 * unless asked), a row object or undefined. So the native statement is used as it is, with no
 * wrapper call on the hot path.
 */
function statement<Row>(native: NativeStatement): SqliteStatement<Row> {
  return native as SqliteStatement<Row>;
}

/**
 * The files this process has open, and through which driver. Each driver carries its own copy of
 * SQLite, and POSIX locks belong to the process: two copies in one process do not see each other's
 * locks (a write through one does not wait for the other, and closing one drops the other's locks),
 * which can corrupt the file. Across processes the drivers mix safely.
 */
const openFiles = new Map<string, { driver: SqliteDriverName; connections: number }>();

/** Claims `path` for `driver` in this process; the returned function gives it back. */
function claim(driver: SqliteDriverName, path: string): () => void {
  if (path === ':memory:' || path === '') return () => {};
  const absolute = resolve(path);
  const key = `${realpathSync(dirname(absolute))}/${basename(absolute)}`;
  const held = openFiles.get(key) ?? { driver, connections: 0 };
  if (held.connections > 0 && held.driver !== driver) {
    throw new KindeAuthError(
      'ERR_CONFIG',
      `The SQLite file ${path} is already open in this process through "${held.driver}": open it through the same driver (two SQLite libraries in one process do not see each other's locks)`,
    );
  }
  held.connections++;
  openFiles.set(key, held);
  return () => {
    if (--held.connections === 0) openFiles.delete(key);
  };
}

/**
 * Opens `path` with `driver`. The busy timeout is set with a PRAGMA, the same on both drivers and on
 * every Node version that has `node:sqlite` (its `timeout` option is younger than the module).
 */
export function openSqlite(driver: SqliteDriverName, path: string, busyTimeoutMs: number): SqliteConnection {
  const Database = loadDriver(driver);
  const release = claim(driver, path);
  let db: NativeDatabase;
  try {
    db = openNative(driver, Database, path);
  } catch (error) {
    release();
    throw error;
  }
  let open = true;
  try {
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  } catch (error) {
    db.close();
    release();
    throw error;
  }
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  return {
    driver,
    get open() {
      return open;
    },
    prepare: (sql) => statement(db.prepare(sql)),
    exec: (sql) => void db.exec(sql),
    immediate(work) {
      begin.run();
      try {
        const result = work();
        commit.run();
        return result;
      } catch (error) {
        try {
          rollback.run();
        } catch {
          // SQLite already rolled back (a failed COMMIT can): nothing is left to undo.
        }
        throw error;
      }
    },
    close() {
      if (!open) return;
      open = false;
      db.close();
      release();
    },
  };
}

/** SQLITE_BUSY (5) and SQLITE_LOCKED (6), in the low byte of an extended result code. */
const BUSY_CODES = new Set([5, 6]);

/**
 * Whether `error` says another connection holds the file: better-sqlite3 names the code
 * (`SQLITE_BUSY`, `SQLITE_BUSY_SNAPSHOT`, …), node:sqlite gives the number in `errcode`.
 */
export function isBusy(error: unknown): boolean {
  const { code, errcode } = (error ?? {}) as { code?: unknown; errcode?: unknown };
  if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')))
    return true;
  return typeof errcode === 'number' && BUSY_CODES.has(errcode & 0xff);
}

/** The driver from the option or `SESSION_SQLITE_DRIVER`; a wrong name is a configuration error. */
export function sqliteDriver(value: unknown, source: string): SqliteDriverName {
  if (value === undefined || value === '') return 'node:sqlite';
  if (SQLITE_DRIVERS.includes(value as SqliteDriverName)) return value as SqliteDriverName;
  throw new KindeAuthError(
    'ERR_CONFIG',
    `${source} must be "node:sqlite" or "better-sqlite3"; got ${JSON.stringify(String(value))}`,
  );
}
