#!/usr/bin/env node
// The SQLite session store on its two drivers, node:sqlite and better-sqlite3, side by side in one
// process (each on its own file), rounds interleaved, medians. Operations as the plugin makes them:
//   hot get   a signed-in request: `PRAGMA data_version`, then the in-process cache
//   cold get  the cache off (cacheEntries: 0): SELECT and JSON.parse of a session row
//   touch     a rolling session extended: one UPDATE
//   set       a login or refresh: a write transaction with its change-log row
// Prints the median ops/s per driver and the median of the per-round ratios node:sqlite /
// better-sqlite3 (each round measures both, back to back, so a busy machine moves both alike).
// Needs the workspaces built.
//   node bench/sqlite-drivers.mjs [--quick]        (on another Node: scripts/node.sh 22 node bench/…)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sqliteSessionStore } from '../packages/fastify-kinde/dist/src/index.js';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const ROUNDS = values.quick ? 5 : 15;
const ROUND_MS = values.quick ? 100 : 200;
const SESSIONS = 1_000;
const DRIVERS = ['node:sqlite', 'better-sqlite3'];

/** A session record of the size the plugin stores (tokens, claims, profile). */
const record = (i) => ({
  v: 1,
  sub: `kp_${i.toString(16).padStart(24, '0')}`,
  accessToken: 'x'.repeat(900),
  idToken: 'y'.repeat(1100),
  refreshToken: 'z'.repeat(43),
  claims: { email: `user${i}@example.test`, org_code: 'org_1', permissions: ['read:items', 'write:items'] },
  createdAt: Date.now(),
  expiresAt: Date.now() + 3_600_000,
});

const dir = mkdtempSync(join(tmpdir(), 'kinde-bench-sqlite-'));
const stores = Object.fromEntries(
  DRIVERS.map((driver) => {
    const path = join(dir, `${driver.replace(':', '-')}.db`);
    const hot = sqliteSessionStore({ path, driver });
    const cold = sqliteSessionStore({ path, driver, cacheEntries: 0 });
    for (let i = 0; i < SESSIONS; i++) hot.set(`sess:${i}`, record(i), 3_600_000);
    return [driver, { hot, cold }];
  }),
);

const OPERATIONS = {
  'hot get': ({ hot }, i) => hot.get(`sess:${i % 64}`),
  'cold get': ({ cold }, i) => cold.get(`sess:${i % SESSIONS}`),
  touch: ({ hot }, i) => hot.touch(`sess:${i % SESSIONS}`, 3_600_000),
  set: ({ hot }, i) => hot.set(`sess:${i % SESSIONS}`, record(i % SESSIONS), 3_600_000),
};

/** Operations per second of `op` on `store` for about `ms` milliseconds. */
function measure(op, store, ms) {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 256; k++) op(store, n++);
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x) => Math.round(x).toLocaleString('en-US').padStart(11);

console.log(`Node ${process.version}, ${ROUNDS} rounds × ${ROUND_MS} ms per cell, medians`);
const ratioOf = (samples) => median(samples[DRIVERS[0]].map((a, i) => a / samples[DRIVERS[1]][i]));
console.log(
  `${'operation'.padEnd(10)} ${'node:sqlite'.padStart(11)} ${'better-sqlite3'.padStart(14)}  ratio`,
);
try {
  for (const [name, op] of Object.entries(OPERATIONS)) {
    for (const driver of DRIVERS) measure(op, stores[driver], 50); // warm-up
    const samples = Object.fromEntries(DRIVERS.map((d) => [d, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? DRIVERS : [...DRIVERS].reverse();
      for (const driver of order) samples[driver].push(measure(op, stores[driver], ROUND_MS));
    }
    const [a, b] = DRIVERS.map((d) => median(samples[d]));
    console.log(`${name.padEnd(10)} ${fmt(a)} ${fmt(b).padStart(14)}  ${ratioOf(samples).toFixed(2)}`);
  }
} finally {
  for (const { hot, cold } of Object.values(stores)) {
    hot.close();
    cold.close();
  }
  rmSync(dir, { recursive: true, force: true });
}
