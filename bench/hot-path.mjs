#!/usr/bin/env node
// What the pieces of a protected request cost, one at a time, as CPU time in this process: the parts
// of the session hot path that are fastify-kinde's own (and the cookie parser in front of them), so
// that the difference to bare Fastify in the load rows can be told apart (and Fastify's response-schema
// lookup per reply). Median of 5 runs of 200,000
// calls each, every call on a fresh string (as a request brings one); the first-use bearer lines at the
// end: median of 5 runs of 1,000 never-seen tokens each. `node bench/hot-path.mjs`
import { generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCookie } from '../packages/fastify-kinde/dist/src/cookies.js';
import { memorySessionStore } from '../packages/fastify-kinde/dist/src/session/memory.js';
import { createCookieSigner } from '../packages/fastify-kinde/dist/src/session/signer.js';
import { sqliteSessionStore } from '../packages/fastify-kinde/dist/src/session/sqlite.js';
import { tracedStore } from '../packages/fastify-kinde/dist/src/telemetry.js';
import { createTokenVerifier } from '../packages/fastify-kinde/dist/src/tokens.js';

const require = createRequire(import.meta.url);
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

// Fastify's response-schema lookup on each reply (its getSchemaSerializer, for a 200): a guarded route
// used to carry documentation-only 401/403 schemas, so the lookup went on to build and look up "2xx";
// such a route now keeps none (fastify-kinde's openapi.ts, documentRoute).
const { getSchemaSerializer } = require('fastify/lib/schemas.js');
const { kSchemaResponse } = require('fastify/lib/symbols.js');
const documentedOnly = { [kSchemaResponse]: { 401: () => '' } };
const contentType = 'application/json; charset=utf-8';
time('Fastify reply: schema lookup, 401-only schemas (before)', () =>
  getSchemaSerializer(documentedOnly, 200, contentType),
);
time('Fastify reply: schema lookup, no response schemas (now)', () =>
  getSchemaSerializer({}, 200, contentType),
);

sqliteStore.close();
rmSync(scratch, { recursive: true, force: true });

// A first-use bearer token: the verifier's synchronous path (what the credential hook calls once the
// signing key is known) on never-seen tokens, against one node:crypto RSA verify of the same size.
// Tokens shaped like Kinde's (about 1 KB), signed up front; each run verifies fresh ones.
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' };
const issuer = 'https://bench.kinde.test';
const verifier = createTokenVerifier(
  /** @type {any} */ ({ issuerUrl: issuer, audience: [], clientId: 'client_1', bearer: { clients: [] } }),
  async () => new URL(`data:application/json,${encodeURIComponent(JSON.stringify({ keys: [jwk] }))}`),
);
const tokenHead = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'k1', typ: 'JWT' })).toString('base64url');
const issuedAt = Math.floor(Date.now() / 1000);
const claims = {
  aud: [],
  azp: 'client_1',
  exp: issuedAt + 3600,
  feature_flags: { theme: { t: 's', v: 'dark' } },
  iat: issuedAt,
  iss: issuer,
  org_code: 'org_0123456789ab',
  permissions: ['read:items', 'write:items', 'delete:items'],
  roles: [{ id: '0190aaaa-bbbb-cccc-dddd-eeeeeeeeeeee', key: 'admin', name: 'Admin' }],
  scp: ['openid', 'profile', 'email', 'offline'],
  sub: 'kp_0123456789abcdef0123456789abcdef',
};
/** @param {number} count */
const mint = (count) =>
  Array.from({ length: count }, () => {
    const input = `${tokenHead}.${Buffer.from(JSON.stringify({ ...claims, jti: randomUUID() })).toString('base64url')}`;
    // Copied into a flat string, as a token read from a request header is.
    return Buffer.from(
      `${input}.${sign('sha256', Buffer.from(input), rsa.privateKey).toString('base64url')}`,
    ).toString();
  });
const PER_RUN = 1_000;
await verifier.verify(mint(1)[0] ?? ''); // loads the key set: from here on the key is known
/** @param {string} name @param {(token: string) => unknown} fn */
function timeTokens(name, fn) {
  const tokens = mint(PER_RUN * 6);
  const runs = [];
  for (let k = 0; k < 6; k++) {
    const before = process.cpuUsage();
    for (let i = k * PER_RUN; i < (k + 1) * PER_RUN; i++) fn(/** @type {string} */ (tokens[i]));
    const used = process.cpuUsage(before);
    if (k > 0) runs.push((used.user + used.system) / PER_RUN);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name.padEnd(58)} ${((runs[2] ?? 0) * 1000).toFixed(0).padStart(5)} ns`);
  return runs[2] ?? 0;
}
const [, sample = '', signature = ''] = /^(.*)\.([^.]*)$/.exec(mint(1)[0] ?? '') ?? [];
const signedBytes = Buffer.from(sample);
const signatureBytes = Buffer.from(signature, 'base64url');
const first = timeTokens('first-use bearer: verifier.verifyNow, a fresh token', (token) => {
  if (verifier.verifyNow(token) === undefined) throw new Error('not verified synchronously');
});
const bare = timeTokens('one node:crypto RSA-2048 verify (the same size)', () =>
  verify('sha256', signedBytes, rsa.publicKey, signatureBytes),
);
console.log(
  `${'first-use bearer over one RSA verify'.padEnd(58)} ${((first - bare) * 1000).toFixed(0).padStart(5)} ns`,
);
