import { createHash } from 'node:crypto';

/** Where the PostgreSQL store keeps its rows: a schema and a table (plus `<table>_leases`). */
export interface PostgresTableOptions {
  /** The schema of both tables; created when missing and not `public`. Default `public`. */
  schema?: string;
  /** The sessions table; refresh leases go in `<table>_leases`. Default `kinde_sessions`. */
  table?: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** PostgreSQL truncates identifiers past 63 bytes; `_leases` must still fit. */
const MAX_TABLE = 63 - '_leases'.length;

/** The checked names and every statement of the store, built once per store. */
export interface PostgresSql {
  schema: string;
  table: string;
  /** The `LISTEN`/`pg_notify` channel of this table's invalidations. */
  channel: string;
  /** A short digest of schema and table, so prepared statement names differ between tables. */
  tag: string;
  migrate: string;
  check: string;
  get: string;
  set: string;
  replace: string;
  touch: string;
  delete: string;
  lock: string;
  unlock: string;
  sweep: string;
  sweepLeases: string;
}

function identifier(value: string, name: string, max: number): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value) || value.length > max) {
    throw new TypeError(
      `"${name}" must be a plain SQL identifier (letters, digits, _; at most ${max} characters); got "${value}"`,
    );
  }
  return value;
}

const ms = (param: string) => `now() + ${param}::float8 * interval '1 millisecond'`;

/**
 * The SQL that creates the PostgreSQL store's tables: what the store runs at start-up unless
 * `migrate: false`, and what a DBA runs instead. Idempotent.
 *
 * @example
 * ```ts
 * console.log(postgresSessionSchema({ schema: 'auth', table: 'sessions' }));
 * ```
 */
export function postgresSessionSchema(options: PostgresTableOptions = {}): string {
  return postgresSql(options).migrate;
}

/** Checks the names and builds the statements. */
export function postgresSql(options: PostgresTableOptions): PostgresSql {
  const schema = identifier(options.schema ?? 'public', 'schema', 63);
  const table = identifier(options.table ?? 'kinde_sessions', 'table', MAX_TABLE);
  const t = `"${schema}"."${table}"`;
  const l = `"${schema}"."${table}_leases"`;
  const tag = createHash('sha256').update(`${schema}.${table}`).digest('hex').slice(0, 12);
  const migrate = [
    schema === 'public' ? '' : `CREATE SCHEMA IF NOT EXISTS "${schema}";\n`,
    `CREATE TABLE IF NOT EXISTS ${t} (\n  id text PRIMARY KEY,\n  value json NOT NULL,\n  expires_at timestamptz NOT NULL\n);\n`,
    `CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON ${t} (expires_at);\n`,
    `CREATE TABLE IF NOT EXISTS ${l} (\n  id text PRIMARY KEY,\n  token text NOT NULL,\n  expires_at timestamptz NOT NULL\n);\n`,
  ].join('');
  return {
    schema,
    table,
    channel: `kinde_${tag}`,
    tag,
    migrate,
    check: `SELECT (SELECT count(*) FROM (SELECT id, value, expires_at FROM ${t} LIMIT 0) s) + (SELECT count(*) FROM (SELECT id, token, expires_at FROM ${l} LIMIT 0) s)`,
    get: `SELECT value, extract(epoch FROM expires_at - now())::float8 * 1000 AS ttl FROM ${t} WHERE id = $1 AND expires_at > now()`,
    // The write and its notification commit together: no instance can miss one without the other.
    set: `WITH w AS (INSERT INTO ${t} (id, value, expires_at) VALUES ($1, $2::json, ${ms('$3')}) ON CONFLICT (id) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at RETURNING id) SELECT pg_notify($4, id) FROM w`,
    replace: `WITH w AS (UPDATE ${t} SET value = $2::json, expires_at = ${ms('$3')} WHERE id = $1 AND expires_at > now() RETURNING id) SELECT pg_notify($4, id) FROM w`,
    touch: `UPDATE ${t} SET expires_at = ${ms('$2')} WHERE id = $1 AND expires_at > now()`,
    delete: `WITH d AS (DELETE FROM ${t} WHERE id = $1 RETURNING expires_at > now() AS live) SELECT live, pg_notify($2, $1) FROM d`,
    // Taken when absent or expired; a concurrent taker waits on the row and then finds it live.
    lock: `INSERT INTO ${l} (id, token, expires_at) VALUES ($1, $2, ${ms('$3')}) ON CONFLICT (id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at WHERE ${l}.expires_at <= now() RETURNING token`,
    unlock: `DELETE FROM ${l} WHERE id = $1 AND token = $2`,
    // Bounded, and rows another instance is sweeping are skipped rather than waited for.
    sweep: `DELETE FROM ${t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${t} WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED))`,
    sweepLeases: `DELETE FROM ${l} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${l} WHERE expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED))`,
  };
}
