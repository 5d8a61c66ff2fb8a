#!/usr/bin/env node
// What the pieces of a protected request cost, one at a time, as CPU time in this process: the parts
// of the session hot path that are fastify-kinde's own (and the cookie parser in front of them), so
// that the difference to bare Fastify in the load rows can be told apart. Median of 5 runs of 200,000
// calls each, every call on a fresh string (as a request brings one). `node bench/hot-path.mjs`
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memorySessionStore } from '../packages/fastify-kinde/dist/src/session/memory.js';
import { createCookieSigner } from '../packages/fastify-kinde/dist/src/session/signer.js';
import { sqliteSessionStore } from '../packages/fastify-kinde/dist/src/session/sqlite.js';
import { tracedStore } from '../packages/fastify-kinde/dist/src/telemetry.js';

// @fastify/cookie's parser (it imports the `cookie` package's ESM build).
const { parseCookie } = await import(new URL('../node_modules/cookie/dist/index.js', import.meta.url).href);

const signer = createCookieSigner(['bench-session-secret-0123456789abcdef0123']);
const id = 'a'.repeat(43);
const record = {
  v: 1,
  user: { id: 'kp_1', email: 'a@example.test', given_name: null, family_name: null, picture: null },
  accessToken: 'x'.repeat(900),
  accessClaims: { sub: 'kp_1', permissions: ['read:items'] },
  idToken: 'y'.repeat(900),
  idClaims: {},
  refreshToken: 'r',
  createdAt: Date.now(),
  accessExpiresAt: Date.now() + 3_600_000,
};
const scratch = mkdtempSync(join(tmpdir(), 'fastify-kinde-hot-'));
const memory = tracedStore(memorySessionStore(), 'memory');
memory.set(`sess:${id}`, record, 3_600_000);
const sqliteStore = sqliteSessionStore({ path: join(scratch, 'sessions.db') });
const sqlite = tracedStore(sqliteStore, 'sqlite');
sqlite.set(`sess:${id}`, record, 3_600_000);
const dataVersion = sqliteStore.database.prepare('PRAGMA data_version');

const N = 200_000;
/** @param {string} name @param {(i: number) => unknown} fn */
function time(name, fn) {
  for (let i = 0; i < 20_000; i++) fn(i);
  const runs = [];
  for (let k = 0; k < 5; k++) {
    const before = process.cpuUsage();
    for (let i = 0; i < N; i++) fn(i);
    const used = process.cpuUsage(before);
    runs.push((used.user + used.system) / N);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name.padEnd(58)} ${((runs[2] ?? 0) * 1000).toFixed(0).padStart(5)} ns`);
}

const fresh = (/** @type {string} */ text) => Array.from({ length: 1024 }, () => text.split('').join(''));
const oneCookie = fresh(`kinde_session=${signer.sign(id)}`);
const fiveCookies = fresh(
  `_ga=GA1.1.123456789.1700000000; theme=dark; kinde_session=${signer.sign(id)}; _gid=GA1.2.1; lang=en`,
);
const signed = fresh(signer.sign(id));
const ids = fresh(id);

time('@fastify/cookie parse, one cookie', (i) => parseCookie(oneCookie[i & 1023]));
time('@fastify/cookie parse, five cookies', (i) => parseCookie(fiveCookies[i & 1023]));
time('cookie signature (verified before: a cache hit)', (i) => signer.unsign(signed[i & 1023]));
time('memory store get (key made, traced wrapper)', (i) => memory.get(`sess:${ids[i & 1023]}`));
time('SQLite store get, cache hit (key made, traced wrapper)', (i) => sqlite.get(`sess:${ids[i & 1023]}`));
time('PRAGMA data_version (now once per event-loop turn)', () => dataVersion.get());

sqliteStore.close();
rmSync(scratch, { recursive: true, force: true });
