import { createRequire } from 'node:module';
import type { Pool, QueryResult } from 'pg';
import { type Clock, nowOf } from '../clock.js';
import { KindeAuthError } from '../errors.js';
import { type LocalCacheOptions, localCacheSettings, positiveInteger } from './local-cache.js';
import { listenCache } from './postgres-cache.js';
import { type PostgresTableOptions, postgresSql } from './postgres-sql.js';
import { randomId } from './record.js';
import type { SharedSessionStore, StoreEntry } from './store.js';

/**
 * What the store needs of a `pg.Pool`: your own pool (`new pg.Pool(…)`) fits. Typed loosely here so
 * that apps on another store need no `pg` types.
 */
export interface PostgresPool {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
  connect(): Promise<unknown>;
  end(): Promise<void>;
}

/** Options of {@link postgresSessionStore}. */
export interface PostgresSessionStoreOptions extends PostgresTableOptions {
  /** `postgres://user:password@host:5432/db` (`DATABASE_URL`). Ignored with `pool`. */
  connectionString?: string;
  /**
   * Your own `pg.Pool`: the store does not end it, and you handle its `error` events. Give it a
   * `connectionTimeoutMillis` and a `statement_timeout`; the store bounds its own calls by
   * `queryTimeoutMs` either way. With `localCache`, one of its connections is held for `LISTEN`.
   */
  pool?: PostgresPool;
  /** Connections of the store's own pool. Default 10. */
  maxConnections?: number;
  /**
   * Longest wait for PostgreSQL in milliseconds, connecting included; past it the call fails with
   * `ERR_STORE_UNAVAILABLE` (503). It is also the pool's `statement_timeout`. Default 1,000.
   */
  queryTimeoutMs?: number;
  /**
   * Create the tables at start-up (idempotent, under an advisory lock so that instances starting
   * together do not collide). `false` when a DBA ran {@link postgresSessionSchema} instead: the store
   * then only checks that the tables are there. Default true.
   */
  migrate?: boolean;
  /**
   * An in-process read cache, kept exact through `LISTEN`/`NOTIFY`: every write and delete notifies
   * the id in the same statement, and every instance drops its copy. Entries older than `maxAgeMs`
   * are read again. `true` for the defaults. Default off.
   */
  localCache?: PostgresLocalCacheOptions | boolean;
  /** How often expired rows are deleted, in milliseconds. Default 60,000. */
  sweepIntervalMs?: number;
  /** Rows deleted per statement when sweeping (at most 10 statements per sweep). Default 1,000. */
  sweepBatch?: number;
  /**
   * Where entries' `expiresAt` is read from (the server owns the expiry; this converts its remaining
   * TTL to a time). Default the system clock.
   */
  clock?: Clock;
}

/** The PostgreSQL store: a {@link SharedSessionStore} in a table, invalidated through `LISTEN`/`NOTIFY`. */
export interface PostgresSessionStore<T extends object = object> extends SharedSessionStore<T> {
  /** The pool the store queries through. */
  readonly pool: PostgresPool;
  /** Deletes expired rows now, in bounded batches; answers how many. */
  sweep(): Promise<number>;
}

/**
 * Options of the in-process read cache of `postgresSessionStore`. Declared here, not beside the
 * cache, so that this module's types never import `pg`'s (an optional peer).
 */
export type PostgresLocalCacheOptions = LocalCacheOptions;
export type { PostgresTableOptions };

const noop = () => {};
const SWEEP_STATEMENTS = 10;

/** pg, loaded when a PostgreSQL store is made: it is an optional peer dependency. */
function loadPg(): typeof import('pg') {
  try {
    return createRequire(import.meta.url)('pg') as typeof import('pg');
  } catch (cause) {
    throw new KindeAuthError(
      'ERR_CONFIG',
      'The PostgreSQL session store needs the "pg" package: npm install pg',
      {},
      { cause },
    );
  }
}

/** A pool that fails fast during an outage and reconnects on its own, and never holds the process open. */
function ownPool(connectionString: string, max: number, timeoutMs: number): Pool {
  const { Pool: PgPool } = loadPg();
  const pool = new PgPool({
    connectionString,
    max,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    idleTimeoutMillis: 30_000,
    allowExitOnIdle: true,
    keepAlive: true,
    application_name: 'fastify-kinde',
  });
  // An idle connection that breaks (the server restarted) is dropped by the pool; no crash.
  pool.on('error', noop);
  return pool;
}

function unavailable(cause: unknown): KindeAuthError {
  if (cause instanceof KindeAuthError && cause.code === 'ERR_STORE_UNAVAILABLE') return cause;
  return new KindeAuthError(
    'ERR_STORE_UNAVAILABLE',
    'The session store (PostgreSQL) is unavailable',
    {},
    { cause },
  );
}

/**
 * Sessions in PostgreSQL (through `pg`), shared by every instance of the app. A session is a row
 * whose `expires_at` is set from the database's clock, so instances with drifting clocks agree;
 * `delete` is one `DELETE … RETURNING`, so an entry is taken once across instances; `replace` is a
 * conditional `UPDATE`, so a refresh racing a logout cannot revive a session; refresh leases live in
 * `<table>_leases`. Every call is bounded by `queryTimeoutMs` and fails with `ERR_STORE_UNAVAILABLE`,
 * which guards answer with 503; the pool reconnects by itself.
 *
 * @example
 * ```ts
 * app.register(fastifyKinde, {
 *   sessionStore: postgresSessionStore({ connectionString: process.env.DATABASE_URL, localCache: true }),
 * });
 * ```
 */
export function postgresSessionStore<T extends object = object>(
  options: PostgresSessionStoreOptions,
): PostgresSessionStore<T> {
  const sql = postgresSql(options);
  const timeoutMs = positiveInteger(options.queryTimeoutMs ?? 1_000, 'queryTimeoutMs');
  const clockNow = nowOf(options.clock);
  const sweepBatch = positiveInteger(options.sweepBatch ?? 1_000, 'sweepBatch');
  const sweepIntervalMs = positiveInteger(options.sweepIntervalMs ?? 60_000, 'sweepIntervalMs');
  const maxConnections = positiveInteger(options.maxConnections ?? 10, 'maxConnections');
  const cacheOption = options.localCache === true ? {} : options.localCache || undefined;
  const cacheOptions = cacheOption && localCacheSettings(cacheOption);
  if (options.pool === undefined && !options.connectionString) {
    throw new TypeError('postgresSessionStore needs "connectionString" or "pool"');
  }
  const pool =
    (options.pool as Pool | undefined) ?? ownPool(options.connectionString!, maxConnections, timeoutMs);
  let closed = false;

  /** Fails with ERR_STORE_UNAVAILABLE after `timeoutMs` at the latest. */
  function bounded<R>(work: () => Promise<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(unavailable(new Error(`no answer within ${timeoutMs} ms`))),
        timeoutMs,
      );
      work().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(unavailable(error));
        },
      );
    });
  }

  let schema: Promise<void> | undefined;
  /**
   * The tables, created (or checked) once; a failure is retried by the next call. Bounded on its own,
   * so that a migration stuck on a frozen server (through a pool without timeouts) cannot hold every
   * later call behind it.
   */
  function ensureSchema(): Promise<void> {
    if (schema === undefined) {
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the tables were not ready in time')), 5 * timeoutMs);
        timer.unref();
      });
      const work = options.migrate === false ? checkTables() : migrate();
      const current: Promise<void> = Promise.race([work, limit])
        .finally(() => clearTimeout(timer))
        .catch((error: unknown) => {
          if (schema === current) schema = undefined;
          throw error;
        });
      schema = current;
    }
    return schema;
  }

  async function migrate(): Promise<void> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`fastify-kinde:${sql.tag}`]);
      await client.query(sql.migrate);
      await client.query('COMMIT');
      client.release();
    } catch (error) {
      client.release(true);
      throw error;
    }
  }

  async function checkTables(): Promise<void> {
    try {
      await pool.query(sql.check);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== '42P01' && code !== '42703' && code !== '3F000') throw error;
      throw new KindeAuthError(
        'ERR_CONFIG',
        `The session tables "${sql.schema}"."${sql.table}" and "${sql.table}_leases" are missing or differ: run the SQL of postgresSessionSchema(), or leave "migrate" on`,
        {},
        { cause: error },
      );
    }
  }

  function query(name: string, text: string, values: unknown[]): Promise<QueryResult> {
    return bounded(() =>
      ensureSchema().then(() => pool.query({ name: `kinde_${name}_${sql.tag}`, text, values })),
    );
  }

  const cache =
    cacheOptions === undefined ? undefined : listenCache<T>(pool, sql.channel, cacheOptions, clockNow);
  ensureSchema().catch(noop);

  /** One read from PostgreSQL, bypassing the local cache. */
  function readShared(id: string): Promise<StoreEntry<T> | undefined> {
    return query('get', sql.get, [id]).then((result) => {
      const row = result.rows[0] as { value: T; ttl: number } | undefined;
      return row && { value: row.value, expiresAt: clockNow() + Math.floor(row.ttl) };
    });
  }

  function write(id: string, value: T, ttlMs: number, mode: 'set' | 'replace'): Promise<boolean> {
    cache?.invalidate(id);
    const ttl = Math.ceil(ttlMs);
    if (!(ttl > 0)) return store.delete(id).then(() => false);
    const json = JSON.stringify(value);
    return query(mode, sql[mode], [id, json, ttl, sql.channel]).then((result) => result.rowCount === 1);
  }

  async function sweep(): Promise<number> {
    let total = 0;
    for (let i = 0; i < SWEEP_STATEMENTS; i++) {
      const removed = (await query('sweep', sql.sweep, [sweepBatch])).rowCount ?? 0;
      total += removed;
      if (removed < sweepBatch) break;
    }
    await query('sweep_leases', sql.sweepLeases, [sweepBatch]);
    return total;
  }
  const sweeper = setInterval(() => sweep().catch(noop), sweepIntervalMs);
  sweeper.unref();

  const store: PostgresSessionStore<T> = {
    pool,
    get cache() {
      return cache && { usable: cache.usable(), size: cache.size() };
    },
    ready() {
      // A missing table (with migrate: false) is a configuration error: say so, not "unavailable".
      const tables = bounded(ensureSchema).catch((error: KindeAuthError) => {
        throw error.cause instanceof KindeAuthError ? error.cause : error;
      });
      return cache ? Promise.all([tables, cache.ready]).then(noop) : tables;
    },
    get(id) {
      return cache ? cache.read(id, () => readShared(id)) : readShared(id);
    },
    set(id, value, ttlMs) {
      return write(id, value, ttlMs, 'set').then(noop);
    },
    replace(id, value, ttlMs) {
      return write(id, value, ttlMs, 'replace');
    },
    touch(id, ttlMs) {
      const ttl = Math.max(1, Math.ceil(ttlMs));
      return query('touch', sql.touch, [id, ttl]).then((result) => {
        if (result.rowCount === 1) cache?.extend(id, clockNow() + ttl);
        else cache?.invalidate(id);
      });
    },
    delete(id) {
      cache?.invalidate(id);
      return query('delete', sql.delete, [id, sql.channel]).then(
        (result) => (result.rows[0] as { live: boolean } | undefined)?.live === true,
      );
    },
    lock(id, ttlMs) {
      const token = randomId();
      const ttl = Math.max(1, Math.ceil(ttlMs));
      return query('lock', sql.lock, [id, token, ttl]).then((result) => {
        if (result.rowCount !== 1) return undefined;
        // Whoever held the lease wrote before giving it back: read that write, not a local copy.
        cache?.invalidate(id);
        return token;
      });
    },
    unlock(id, token) {
      return query('unlock', sql.unlock, [id, token]).then(noop);
    },
    sweep,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(sweeper);
      cache?.close();
      if (options.pool === undefined) await pool.end().catch(noop);
    },
  };
  return store;
}
