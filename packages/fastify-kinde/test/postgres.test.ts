import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { freePort, HttpClient, login, within } from 'test-kit';
import { resolveConfig } from '../src/config.js';
import { type PostgresSessionStore, postgresSessionSchema, postgresSessionStore } from '../src/index.js';
import { postgresSql } from '../src/session/postgres-sql.js';
import { DATABASE_URL, dropTables, postgresMissing, testTable } from './postgres-kit.js';
import { type Rig, startRig } from './setup.js';

const skip = await postgresMissing();

const refreshCount = (rig: Rig) =>
  rig.emulator.requests.filter((r) => r.grantType === 'refresh_token').length;
const isPromise = (value: unknown) => typeof (value as Promise<unknown> | undefined)?.then === 'function';

/** Polls `check` on every turn of the event loop until it holds; answers the milliseconds it took. */
/** Runs SQL on the shared test database with a client of its own. */
async function sql(text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

describe('PostgreSQL session store', () => {
  const tables: string[] = [];
  const stores: PostgresSessionStore[] = [];
  const open = (options: Partial<Parameters<typeof postgresSessionStore>[0]> = {}) => {
    const table = options.table ?? testTable('store');
    if (!tables.includes(table)) tables.push(table);
    const store = postgresSessionStore<{ n: number }>({
      connectionString: DATABASE_URL,
      maxConnections: 4,
      ...options,
      table,
    });
    stores.push(store as PostgresSessionStore);
    return store;
  };
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    if (!skip) for (const table of tables) await dropTables(table);
  });

  test('creates its tables at start-up, with the documented SQL, and sweeps in bounded batches', {
    skip,
  }, async () => {
    const store = open({ sweepBatch: 100 });
    await store.ready();
    const table = tables.at(-1)!;
    const columns = await sql(
      'SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_name IN ($1, $2) ORDER BY 1, 2',
      [table, `${table}_leases`],
    );
    assert.deepEqual(
      columns.rows.map((r) => `${r.table_name.replace(table, 'T')}.${r.column_name}:${r.data_type}`),
      [
        'T.expires_at:timestamp with time zone',
        'T.id:text',
        'T.value:json',
        'T_leases.expires_at:timestamp with time zone',
        'T_leases.id:text',
        'T_leases.token:text',
      ],
    );
    await sql(
      `INSERT INTO "${table}" SELECT 'old:' || g, '{}', now() - interval '1 second' FROM generate_series(1, 1500) g`,
    );
    await store.set('live', { n: 1 }, 60_000);
    assert.equal(await store.sweep(), 1_000, 'at most 10 statements of sweepBatch rows per sweep');
    assert.equal(await store.sweep(), 500);
    assert.equal(await store.sweep(), 0);
    assert.deepEqual((await store.get('live'))?.value, { n: 1 }, 'live rows stay');

    // Instances starting together on a new table take turns migrating (an advisory lock).
    const fresh = testTable('together');
    const together = Array.from({ length: 4 }, () => open({ table: fresh }));
    await Promise.all(together.map((s) => s.ready()));
    await together[0]!.set('x', { n: 1 }, 60_000);
    assert.deepEqual((await together[3]!.get('x'))?.value, { n: 1 });
  });

  test('migrate: false checks the tables and says which SQL to run; a schema of its own works', {
    skip,
  }, async () => {
    const schema = `test_schema_${randomBytes(4).toString('hex')}`;
    const table = 'sessions';
    const missing = open({ schema, table, migrate: false });
    await assert.rejects(missing.ready(), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ERR_CONFIG');
      assert.match(error.message, /missing or differ: run the SQL of postgresSessionSchema\(\)/);
      return true;
    });
    await assert.rejects(missing.set('x', { n: 1 }, 1_000), {
      code: 'ERR_STORE_UNAVAILABLE',
      statusCode: 503,
    });
    try {
      await sql(postgresSessionSchema({ schema, table })); // as a DBA would
      await missing.ready();
      await missing.set('x', { n: 1 }, 60_000);
      assert.deepEqual(
        (await missing.get('x'))?.value,
        { n: 1 },
        'the same store recovers once the tables exist',
      );
    } finally {
      await missing.close();
      await sql(`DROP SCHEMA "${schema}" CASCADE`);
    }
    assert.throws(() => postgresSessionStore({ connectionString: DATABASE_URL, table: 'x; DROP TABLE y' }), {
      message: /"table" must be a plain SQL identifier/,
    });
    assert.throws(() => postgresSessionStore({ connectionString: DATABASE_URL, table: 'a'.repeat(57) }), {
      message: /at most 56 characters/,
    });
    assert.throws(() => postgresSessionStore({}), /needs "connectionString" or "pool"/);
    assert.throws(
      () => postgresSessionStore({ connectionString: DATABASE_URL, localCache: { maxAgeMs: 0 } }),
      /"localCache.maxAgeMs" must be a positive integer/,
    );
  });

  test('your own pool: used, and left open on close', { skip }, async () => {
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    pool.on('error', () => {});
    try {
      const store = open({ pool, connectionString: undefined, localCache: true });
      await store.ready();
      assert.equal(store.pool, pool);
      await store.set('mine', { n: 1 }, 60_000);
      await store.close();
      const table = tables.at(-1)!;
      const rows = await pool.query(`SELECT value FROM "${table}" WHERE id = 'mine'`);
      assert.deepEqual(rows.rows, [{ value: { n: 1 } }], 'the pool still answers after the store closed');
    } finally {
      await pool.end();
    }
  });

  test('an unreachable database fails fast with ERR_STORE_UNAVAILABLE', async () => {
    const store = postgresSessionStore({
      connectionString: `postgres://root@127.0.0.1:${await freePort()}/test`,
      queryTimeoutMs: 200,
    });
    try {
      const started = performance.now();
      await assert.rejects(Promise.resolve(store.get('x')), {
        code: 'ERR_STORE_UNAVAILABLE',
        statusCode: 503,
      });
      await assert.rejects(store.set('x', { n: 1 }, 1_000), { code: 'ERR_STORE_UNAVAILABLE' });
      await assert.rejects(store.ready(), { code: 'ERR_STORE_UNAVAILABLE' });
      assert.ok(performance.now() - started < 700, 'within the query timeout');
    } finally {
      await store.close();
    }
  });

  test('its timers and pool never keep the process alive', { skip }, () => {
    const table = testTable('exit');
    tables.push(table);
    const script = `
      const { postgresSessionStore } = await import(${JSON.stringify(new URL('../src/index.js', import.meta.url).href)});
      const store = postgresSessionStore({ connectionString: ${JSON.stringify(DATABASE_URL)}, table: '${table}', localCache: true });
      await store.ready();
      await store.set('a', { n: 1 }, 60000);
      await store.get('a');
      console.log('done');`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.equal(run.stdout.trim(), 'done', run.stderr);
    assert.equal(run.signal, null, 'exited by itself, not killed by the timeout');
    assert.equal(run.status, 0);
  });

  test('the local cache answers without a query, is invalidated by NOTIFY within 100 ms, and re-reads past maxAgeMs', {
    skip,
  }, async (t) => {
    const a = open({ localCache: true });
    const b = open({ table: tables.at(-1), localCache: { maxEntries: 100, maxAgeMs: 300 } });
    await Promise.all([a.ready(), b.ready()]);
    const bounds: number[] = [];
    for (let i = 0; i < 10; i++) {
      await a.set('sess:s', { n: i }, 60_000);
      await within(200, async () => {
        const seen = (await b.get('sess:s'))?.value as { n: number } | undefined;
        return seen?.n === i && !isPromise(b.get('sess:s'));
      });
      if (i % 2 === 0) {
        await a.delete('sess:s');
        bounds.push(await within(100, () => isPromise(b.get('sess:s'))));
        assert.equal(await b.get('sess:s'), undefined);
      } else {
        await a.set('sess:s', { n: -i }, 60_000);
        bounds.push(await within(100, () => isPromise(b.get('sess:s'))));
        assert.deepEqual((await b.get('sess:s'))?.value, { n: -i });
      }
    }
    t.diagnostic(`NOTIFY reached the other instance in at most ${Math.max(...bounds).toFixed(2)} ms`);
    // A write no instance hears of (straight into the table): served from the cache for at most maxAgeMs.
    await within(200, async () => {
      await b.get('sess:s');
      return !isPromise(b.get('sess:s'));
    });
    await sql(`UPDATE "${tables.at(-1)}" SET value = '{"n":99}' WHERE id = 'sess:s'`);
    const stale = await within(
      1_000,
      async () => ((await b.get('sess:s'))?.value as { n?: number } | undefined)?.n === 99,
    );
    assert.ok(stale < 300 + 50, `a silent write was served stale for ${stale.toFixed(0)} ms`);
    t.diagnostic(`a write without NOTIFY was seen after ${stale.toFixed(0)} ms (maxAgeMs 300)`);
    for (let i = 0; i < 150; i++) await a.set(`sess:${i}`, { n: i }, 60_000);
    for (let i = 0; i < 150; i++) await b.get(`sess:${i}`);
    assert.ok(b.cache!.size <= 100, 'the cache keeps to maxEntries');
  });

  test('when its LISTEN connection is cut, the cache is bypassed, then emptied and used again', {
    skip,
  }, async () => {
    const a = open();
    const b = open({ table: tables.at(-1), localCache: { heartbeatMs: 100 } });
    await b.ready();
    await a.set('sess:k', { n: 1 }, 60_000);
    await within(500, async () => {
      await b.get('sess:k');
      return !isPromise(b.get('sess:k'));
    });
    // Only b's listening connection: its LISTEN and heartbeat name the channel of this table.
    const { channel } = postgresSql({ table: tables.at(-1) });
    const cut = await sql(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE $1',
      [`%${channel}%`],
    );
    assert.equal(cut.rowCount, 1);
    await within(1_000, () => b.cache?.usable === false);
    await a.set('sess:k', { n: 2 }, 60_000); // b may miss this notification
    assert.deepEqual((await b.get('sess:k'))?.value, { n: 2 }, 'no stale entry while not listening');
    await within(2_000, () => b.cache?.usable === true);
    assert.deepEqual((await b.get('sess:k'))?.value, { n: 2 });
  });
});

describe('many instances on one PostgreSQL', () => {
  const rigs: Rig[] = [];
  const tables: string[] = [];
  const stores: PostgresSessionStore[] = [];
  after(async () => {
    for (const rig of rigs.reverse()) await rig.close();
    await Promise.all(stores.map((store) => store.close()));
    if (!skip) for (const table of tables) await dropTables(table);
  });

  /** Two apps on two ports, one emulator, one table; each app has its own store, pool and cache. */
  async function pair(emulator: NonNullable<Parameters<typeof startRig>[0]>['emulator'] = {}) {
    const table = testTable('pair');
    tables.push(table);
    const store = () => {
      const made = postgresSessionStore({
        connectionString: DATABASE_URL,
        table,
        localCache: true,
        maxConnections: 4,
      });
      stores.push(made);
      return made;
    };
    const a = await startRig({ emulator, kinde: { sessionStore: store() } });
    rigs.push(a);
    const b = await startRig({ sharedEmulator: a.emulator, kinde: { sessionStore: store() } });
    rigs.push(b);
    await Promise.all([a, b].map((rig) => (rig.app.kinde.store as PostgresSessionStore).ready()));
    return { a, b };
  }

  test('login on A, use on B, logout on B: A refuses the session within 100 ms', { skip }, async (t) => {
    const { a, b } = await pair();
    const storeOfA = a.app.kinde.store as PostgresSessionStore;
    const bounds: number[] = [];
    for (let i = 0; i < 5; i++) {
      const client = new HttpClient();
      await login(client, a.appUrl, 'admin@example.test');
      const cookie = `kinde_session=${client.cookies(a.appUrl).get('kinde_session')}`;
      assert.equal((await client.request(`${b.appUrl}/`)).status, 200, 'B sees the session made on A');
      assert.equal((await client.request(`${a.appUrl}/`)).status, 200);
      assert.equal((await client.request(`${a.appUrl}/`)).status, 200);
      const cache = storeOfA.cache!;
      assert.ok(cache.usable && cache.size > 0, 'A serves the session from its cache');
      const logout = await client.request(`${b.appUrl}/api/auth/logout`);
      assert.equal(logout.status, 302);
      bounds.push(
        await within(100, async () => (await fetch(`${a.appUrl}/`, { headers: { cookie } })).status === 401),
      );
      assert.equal((await fetch(`${b.appUrl}/`, { headers: { cookie } })).status, 401);
    }
    t.diagnostic(`A refused the session at most ${Math.max(...bounds).toFixed(1)} ms after B's logout`);
  });

  test('50 concurrent requests with an expiring token over both instances: all 200, one refresh', {
    skip,
  }, async () => {
    // Tokens live 7 s; a session refreshes within 5 s of expiry. No grace window: a second refresh
    // with the rotated refresh token would be refused and end the session.
    const { a, b } = await pair({ accessTokenTtl: 7, refreshGraceSeconds: 0 });
    const client = new HttpClient();
    await login(client, a.appUrl, 'admin@example.test');
    const cookie = `kinde_session=${client.cookies(a.appUrl).get('kinde_session')}`;
    const token = async (rig: Rig) =>
      JSON.parse(await (await fetch(`${rig.appUrl}/whoami`, { headers: { cookie } })).text()).token;
    const before = await token(b);
    const refreshes = refreshCount(a);
    // The token is inside the refresh window: for both instances and the emulator they share.
    a.advance(2_500);
    b.clock.advance(2_500);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => fetch(`${(i % 2 ? a : b).appUrl}/`, { headers: { cookie } })),
    );
    assert.deepEqual(
      answers.map((r) => r.status),
      Array(50).fill(200),
    );
    assert.equal(refreshCount(a), refreshes + 1, 'one refresh_token grant at the provider');
    const [fromA, fromB] = await Promise.all([token(a), token(b)]);
    assert.notEqual(fromA, before);
    assert.equal(fromA, fromB, 'both instances use the one stored result');
  });

  test('SESSION_STORE=postgres with DATABASE_URL builds the store, migrates, and closes it with the app', {
    skip,
  }, async () => {
    // A database of its own: the default table name must not meet anyone else's.
    const database = `test_env_${randomBytes(4).toString('hex')}`;
    await sql(`CREATE DATABASE "${database}"`);
    const url = new URL(DATABASE_URL);
    url.pathname = `/${database}`;
    try {
      const rig = await startRig({
        kinde: { env: { SESSION_STORE: 'postgres', DATABASE_URL: url.href }, sessionStore: undefined },
      });
      const store = rig.app.kinde.store as PostgresSessionStore;
      try {
        assert.equal(typeof store.lock, 'function');
        const client = new HttpClient();
        await login(client, rig.appUrl, 'admin@example.test');
        assert.equal((await client.request(`${rig.appUrl}/`)).status, 200);
        const rows = await store.pool.query(
          "SELECT count(*)::int AS n FROM kinde_sessions WHERE id LIKE 'sess:%'",
        );
        assert.deepEqual(rows.rows, [{ n: 1 }], 'the session is a row of kinde_sessions');
      } finally {
        await rig.close();
      }
      assert.equal(
        (store.pool as unknown as { ended: boolean }).ended,
        true,
        'the pool it made is ended with the app',
      );
    } finally {
      await sql(`DROP DATABASE "${database}" WITH (FORCE)`);
    }
  });

  test('DATABASE_URL is checked at start-up', () => {
    const base = { issuerUrl: 'http://127.0.0.1:1', clientId: 'c', siteUrl: 'http://127.0.0.1:2' };
    const config = resolveConfig({ ...base, env: { SESSION_STORE: 'postgres', DATABASE_URL } });
    assert.deepEqual(config.store, { kind: 'postgres', connectionString: DATABASE_URL });
    assert.throws(
      () => resolveConfig({ ...base, env: { SESSION_STORE: 'postgres' } }),
      /DATABASE_URL is required when SESSION_STORE=postgres/,
    );
    assert.throws(
      () => resolveConfig({ ...base, env: { SESSION_STORE: 'postgres', DATABASE_URL: 'mysql://db/app' } }),
      /DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//,
    );
    assert.throws(
      () => resolveConfig({ ...base, env: { SESSION_STORE: 'postgres', DATABASE_URL: 'not a url' } }),
      /DATABASE_URL must be a URL/,
    );
    assert.throws(() => resolveConfig({ ...base, sessionStore: 'mongo' as 'memory' }), /or "postgres"/);
  });
});
