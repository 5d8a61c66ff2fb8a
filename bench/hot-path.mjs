#!/usr/bin/env node
// What the pieces of a protected request cost, one at a time, as CPU time in this process: the parts
// of the session hot path that are fastify-kinde's own (and the cookie parser in front of them), so
// that the difference to bare Fastify in the load rows can be told apart. Median of 5 runs of 200,000
// calls each, every call on a fresh string (as a request brings one). `node bench/hot-path.mjs`
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCookie } from '../packages/fastify-kinde/dist/src/cookies.js';
import { memorySessionStore } from '../packages/fastify-kinde/dist/src/session/memory.js';
import { createCookieSigner } from '../packages/fastify-kinde/dist/src/session/signer.js';
import { sqliteSessionStore } from '../packages/fastify-kinde/dist/src/session/sqlite.js';
import { tracedStore } from '../packages/fastify-kinde/dist/src/telemetry.js';

// @fastify/cookie's parser (it imports the `cookie` package's ESM build), which the plugin used before.
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
const ids = fresh(id);

const key = `sess:${id}`;
const otherHeader = fiveCookies[1];

time('@fastify/cookie parse, one cookie (no longer used)', (i) => parseCookie(oneCookie[i & 1023]));
time('@fastify/cookie parse, five cookies (no longer used)', (i) => parseCookie(fiveCookies[i & 1023]));
time('readCookie, five cookies (fastify-kinde)', (i) => readCookie(fiveCookies[i & 1023], 'kinde_session'));
// The value readCookie slices out is a new string on every request: its hash is computed anew.
time('readCookie + signature cache hit, new header', (i) =>
  signer.unsign(/** @type {string} */ (readCookie(fiveCookies[i & 1023], 'kinde_session'))),
);
time('repeat on a keep-alive connection: header compared', (i) => fiveCookies[i & 1023] === otherHeader);
time('memory store get, key made per request (before)', (i) => memory.get(`sess:${ids[i & 1023]}`));
time("memory store get, the ticket's key (now)", () => memory.get(key));
time('SQLite store get, cache hit, key made per request (before)', (i) =>
  sqlite.get(`sess:${ids[i & 1023]}`),
);
time("SQLite store get, cache hit, the ticket's key (now)", () => sqlite.get(key));
time('PRAGMA data_version (now once per event-loop turn)', () => dataVersion.get());

sqliteStore.close();
rmSync(scratch, { recursive: true, force: true });
