import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  memorySessionStore,
  postgresSessionStore,
  redisSessionStore,
  sqliteSessionStore,
} from '../src/index.js';
import { SQLITE_DRIVERS } from '../src/session/sqlite-driver.js';
import { testClock } from '../src/testing/clock.js';
import { runStoreContract } from '../src/testing/store-contract.js';
import { DATABASE_URL, dropTables, postgresMissing } from './postgres-kit.js';
import { REDIS_URL, redisMissing, removeKeys } from './redis-kit.js';

const redisSkip = await redisMissing();
const postgresSkip = await postgresMissing();

/** Every case skipped, with one reason (the server is missing here). */
function allSkipped(reason: string | false) {
  if (!reason) return undefined;
  const ids = [
    'set-get',
    'missing',
    'expiry',
    'touch',
    'delete',
    'delete-once',
    'replace',
    'isolation',
  ].concat([
    'size',
    'bounds',
    'concurrency',
    'shared-delete',
    'shared-write',
    'lease',
    'lease-expiry',
    'restart',
    'user-index',
    'user-revoke',
    'user-revoke-in-flight',
    'user-revoke-org',
    'user-refresh',
    'user-concurrent',
    'user-bounded',
    'user-cleanup',
  ]);
  return Object.fromEntries(ids.map((id) => [id, reason]));
}

// The stores whose expiry is computed in this process run the contract on a clock it moves; one
// memory store keeps the system clock, so the real-time path of the contract runs too.
const memoryClock = testClock();
runStoreContract({
  name: 'memory',
  create: () => memorySessionStore({ maxEntries: 50, hotEntries: 10, clock: memoryClock }),
  clock: memoryClock,
  maxEntries: 50,
  describe,
  test,
});

runStoreContract({
  name: 'memory, unbounded enough',
  create: () => memorySessionStore(),
  describe,
  test,
});

// One file opened by two instances is what two processes on one host do.
for (const driver of SQLITE_DRIVERS) {
  const sqliteFile = (scope: string) =>
    join(tmpdir(), `kinde-contract-${driver.replace(':', '-')}-${scope}.db`);
  const clock = testClock();
  runStoreContract({
    name: `SQLite (${driver}), one file`,
    create: (scope) => sqliteSessionStore({ path: sqliteFile(scope), driver, clock }),
    clock,
    cleanup(scope) {
      for (const suffix of ['', '-wal', '-shm']) rmSync(sqliteFile(scope) + suffix, { force: true });
    },
    shared: true,
    persistent: true,
    describe,
    test,
  });
}

runStoreContract({
  name: 'Redis, local cache on',
  // Ready: the cache is subscribed, so reads are served from it as in production.
  async create(scope) {
    const store = redisSessionStore({ url: REDIS_URL, prefix: `test:${scope}:`, localCache: true });
    await store.ready();
    return store;
  },
  cleanup: (scope) => (redisSkip ? undefined : removeKeys(`test:${scope}:`)),
  shared: true,
  persistent: true,
  skip: allSkipped(redisSkip),
  describe,
  test,
});

runStoreContract({
  name: 'PostgreSQL, local cache on',
  async create(scope) {
    const store = postgresSessionStore({
      connectionString: DATABASE_URL,
      table: `test_${scope}`,
      localCache: true,
      maxConnections: 4,
    });
    await store.ready();
    return store;
  },
  cleanup: (scope) => (postgresSkip ? undefined : dropTables(`test_${scope}`)),
  shared: true,
  persistent: true,
  skip: allSkipped(postgresSkip),
  describe,
  test,
});

runStoreContract({
  name: 'PostgreSQL, no cache',
  create: (scope) =>
    postgresSessionStore({ connectionString: DATABASE_URL, table: `test_${scope}`, maxConnections: 4 }),
  cleanup: (scope) => (postgresSkip ? undefined : dropTables(`test_${scope}`)),
  shared: true,
  persistent: true,
  skip: allSkipped(postgresSkip),
  describe,
  test,
});
