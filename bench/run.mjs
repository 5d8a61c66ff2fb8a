#!/usr/bin/env node
// `npm run bench`: every server side by side on 127.0.0.1, one table, ratios to bare Fastify measured
// in the same run (rounds interleaved, medians). See bench/README.md.
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { importJWK, jwtVerify } from 'jose';
import { freePort } from 'test-kit';
import { bundleServer } from './lib/bundle.mjs';
import {
  callgrindAvailable,
  callgrindWrap,
  countPerRequest,
  instructionCounter,
  keepAliveClient,
  YOUNG_GENERATION,
} from './lib/callgrind.mjs';
import { measureGrowth } from './lib/growth.mjs';
import { CONNECTIONS, median, runLoad, waitForQuiet } from './lib/load.mjs';
import { probe, sessionCookie } from './lib/login.mjs';
import { mintTokens } from './lib/mint.mjs';
import { dropTables, postgresAnswers } from './lib/postgres.mjs';
import { killAll, pinning, pinSelf, startServer } from './lib/proc.mjs';
import { byPackage, callersOf, topSelfTime } from './lib/profile.mjs';
import { deletePrefix, redisAnswers } from './lib/redis.mjs';
import {
  chartSvg,
  growthMarkdown,
  instructionsMarkdown,
  judge,
  rowsMarkdown,
  startupMarkdown,
  summariseInstructions,
  targetsMarkdown,
  targetsText,
} from './lib/report.mjs';
import { measureStartup } from './lib/startup.mjs';
import { runWrk, wrkAvailable } from './lib/wrk.mjs';
import { runWrkTokens } from './lib/wrk-tokens.mjs';

const HERE = new URL('./', import.meta.url).pathname;
const USAGE = `usage: node bench/run.mjs [--quick] [--only ids] [--skip-startup] [--skip-growth] [--skip-instructions] [--profile] [--autocannon] [--rounds N] [--seconds S]

  --quick         one short round per row, growth up to 100k sessions (about 2 minutes)
  --only ids      comma-separated row ids (bare Fastify always runs, for the ratios)
  --skip-startup  no start-up measurement
  --skip-growth   no growth measurement
  --skip-instructions
                  no instruction counts (valgrind's callgrind; not in --quick runs either)
  --instruction-profiles DIR
                  keep each counted row's median batch as a detailed callgrind profile in DIR,
                  with its V8 perf map, for instruction-diff.mjs
  --profile       run the rows with node --cpu-prof on every server and print the top
                  self-time functions of each (implies --skip-startup --skip-growth)
  --wrk           (the default) load with wrk (-t1 -c50) when it is installed
  --autocannon    load with autocannon even when wrk is installed
  --same-servers  keep each server process for every round (default: new processes each round)
  --rounds N      interleaved rounds per row (default 5, --quick 1)
  --seconds S     seconds per measured run (default 2)

rows: node-http fastify fastify-map kinde-memory kinde-sqlite kinde-redis kinde-postgres
      kinde-postgres-nocache bearer-first bearer-first-control bearer-first-budget bearer-repeat kinde-memory-otel
      bearer-repeat-otel
      items fastify-warn app-sqlite app-memory app-sqlite-outside app-memory-outside express-kinde`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'skip-startup': { type: 'boolean', default: false },
    'skip-growth': { type: 'boolean', default: false },
    'skip-instructions': { type: 'boolean', default: false },
    'instruction-profiles': { type: 'string' },
    profile: { type: 'boolean', default: false },
    wrk: { type: 'boolean', default: false },
    autocannon: { type: 'boolean', default: false },
    'same-servers': { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
// Checked before anything runs: otherwise a full run would learn only after its wall-clock rows, or
// never, that it keeps no profile.
const profiles = opts['instruction-profiles'];
if (profiles !== undefined) {
  const counted = !opts.quick && !opts.profile && !opts['skip-instructions'];
  try {
    if (!counted)
      throw new Error(
        'it needs the instruction counts: leave out --quick, --profile and --skip-instructions',
      );
    if (!callgrindAvailable()) throw new Error('valgrind is not installed (apt-get install -y valgrind)');
    mkdirSync(profiles, { recursive: true });
  } catch (error) {
    console.error(`--instruction-profiles ${profiles}: ${/** @type {Error} */ (error).message}\n${USAGE}`);
    process.exit(2);
  }
}

const plan = opts.quick
  ? {
      seconds: 2,
      rounds: 1,
      warm: 1,
      quietBudgetS: 20,
      startupRuns: 5,
      sizes: [1_000, 100_000],
      growth: { seconds: 2, rounds: 1, warm: 1, fillBudgetS: 30 },
      tokenCap: 12_000,
    }
  : {
      seconds: 2,
      rounds: 5,
      warm: 2,
      quietBudgetS: 120,
      startupRuns: 10,
      sizes: [1_000, 100_000, 1_000_000],
      growth: { seconds: 4, rounds: 2, warm: 1, fillBudgetS: 150 },
      tokenCap: 40_000,
    };
if (opts.rounds !== undefined) plan.rounds = Math.max(1, Number(opts.rounds) || 1);
if (opts.seconds !== undefined) plan.seconds = Math.max(1, Number(opts.seconds) || 1);
const REDIS_URL = 'redis://127.0.0.1:6379';
const REDIS_PREFIX = `fastify-kinde-bench:${process.pid}:`;
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
const PG_TABLE = `fastify_kinde_bench_${process.pid}`;

const scratch = mkdtempSync(join(tmpdir(), 'fastify-kinde-bench-'));
let redisUsed = false;
let postgresUsed = false;
process.on('exit', () => {
  killAll();
  rmSync(scratch, { recursive: true, force: true });
});
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping every server`);
    process.exit(130);
  });
}
const log = (/** @type {string} */ line) => console.error(line);
// wrk (the issue's own tool, in C) whenever it is installed, unless --autocannon is asked for.
const useWrk = !opts.autocannon && wrkAvailable();
if (!opts.autocannon && !useWrk)
  log('wrk is not installed (apt-get install -y wrk): loading with autocannon');

/**
 * One load run with the chosen generator (wrk: a token per request through lib/wrk-tokens.mjs).
 *
 * @param {Parameters<typeof runLoad>[0]} options
 */
const load = (options) =>
  useWrk
    ? options.tokens
      ? runWrkTokens({ ...options, tokens: options.tokens })
      : runWrk(options)
    : runLoad(options);

/**
 * `bundle`: the script is run as one bundled module (lib/bundle.mjs), as `npm start` runs the app.
 * `app`: the example app (servers/items-app.mjs), with its embedded emulator, or `'outside'`: configured
 * as in production, signing in through the runner's emulator.
 * @typedef {{ script: string, env?: Record<string, string>, cookie?: RegExp, loginPath?: string, app?: boolean | 'outside', bundle?: boolean }} ServerSpec
 */
/** @type {Record<string, ServerSpec>} */
const SERVERS = {
  'node-http': { script: 'servers/node-http.mjs' },
  fastify: { script: 'servers/fastify.mjs' },
  'fastify-map': { script: 'servers/fastify-map.mjs' },
  'kinde-memory': { script: 'servers/kinde.mjs', env: { STORE: 'memory' }, cookie: /kinde_session$/ },
  'kinde-sqlite': {
    script: 'servers/kinde.mjs',
    env: { STORE: 'sqlite', SQLITE_PATH: join(scratch, 'rows.db') },
    cookie: /kinde_session$/,
  },
  'kinde-redis': {
    script: 'servers/kinde.mjs',
    env: { STORE: 'redis', REDIS_URL, REDIS_PREFIX },
    cookie: /kinde_session$/,
  },
  'kinde-postgres': {
    script: 'servers/kinde.mjs',
    env: { STORE: 'postgres', DATABASE_URL, PG_TABLE, PG_CACHE: '1' },
    cookie: /kinde_session$/,
  },
  'kinde-postgres-nocache': {
    script: 'servers/kinde.mjs',
    env: { STORE: 'postgres', DATABASE_URL, PG_TABLE: `${PG_TABLE}_nc`, PG_CACHE: '0' },
    cookie: /kinde_session$/,
  },
  // Bundled: the bearer rows' process is loaded as `npm start`'s is (bench/README, "Latest round").
  'kinde-bearer': {
    script: 'servers/kinde.mjs',
    env: { STORE: 'memory' },
    cookie: /kinde_session$/,
    bundle: true,
  },
  // The same with the OpenTelemetry SDK and the items API's bridge subscribed, and an onAuthEvent.
  'kinde-memory-otel': {
    script: 'servers/kinde.mjs',
    env: { STORE: 'memory', OTEL: '1' },
    cookie: /kinde_session$/,
  },
  'kinde-bearer-otel': {
    script: 'servers/kinde.mjs',
    env: { STORE: 'memory', OTEL: '1' },
    cookie: /kinde_session$/,
  },
  express: { script: 'servers/express-kinde.mjs', cookie: /^connect\.sid$/, loginPath: '/login' },
  // Bare Fastify with the example app's logger (pino at `warn`): the baseline of the app rows.
  'fastify-warn': { script: 'servers/fastify.mjs', env: { LOGGER: 'warn' } },
  // The example app as `npm start` runs it (the bundle, its embedded emulator, SQLite in `.data/`).
  'items-app-sqlite': { script: 'servers/items-app.mjs', cookie: /kinde_session$/, app: true },
  'items-app-memory': {
    script: 'servers/items-app.mjs',
    env: { SESSION_STORE: 'memory' },
    cookie: /kinde_session$/,
    app: true,
  },
  // The same, configured as in production (KINDE_ISSUER_URL and the rest): no embedded emulator; it
  // signs in through the runner's emulator in another process, as the issue measured it.
  'items-app-sqlite-outside': { script: 'servers/items-app.mjs', cookie: /kinde_session$/, app: 'outside' },
  'items-app-memory-outside': {
    script: 'servers/items-app.mjs',
    env: { SESSION_STORE: 'memory' },
    cookie: /kinde_session$/,
    app: 'outside',
  },
};

/**
 * `base`: the row its ratios are taken against (default `fastify`).
 * @typedef {{ id: string, label: string, server: string, path: string, auth?: 'cookie' | 'bearer' | 'bearer-first' | 'bearer-script', status?: string, base?: string }} RowSpec
 */
/** @type {RowSpec[]} */
const ROWS = [
  { id: 'node-http', label: 'raw node:http hello', server: 'node-http', path: '/' },
  { id: 'fastify', label: 'bare Fastify hello', server: 'fastify', path: '/' },
  {
    id: 'fastify-map',
    label: 'Fastify + cookie → Map lookup (the floor)',
    server: 'fastify-map',
    path: '/',
    auth: 'cookie',
  },
  {
    id: 'kinde-memory',
    label: 'fastify-kinde `/`, memory sessions',
    server: 'kinde-memory',
    path: '/',
    auth: 'cookie',
  },
  {
    id: 'kinde-sqlite',
    label: 'fastify-kinde `/`, SQLite sessions',
    server: 'kinde-sqlite',
    path: '/',
    auth: 'cookie',
  },
  {
    id: 'kinde-redis',
    label: 'fastify-kinde `/`, Redis sessions + local cache',
    server: 'kinde-redis',
    path: '/',
    auth: 'cookie',
  },
  {
    id: 'kinde-postgres',
    label: 'fastify-kinde `/`, PostgreSQL sessions + local cache',
    server: 'kinde-postgres',
    path: '/',
    auth: 'cookie',
  },
  {
    id: 'kinde-postgres-nocache',
    label: 'fastify-kinde `/`, PostgreSQL sessions, no cache',
    server: 'kinde-postgres-nocache',
    path: '/',
    auth: 'cookie',
  },
  {
    id: 'bearer-first',
    label: 'fastify-kinde `/`, bearer, first use',
    server: 'kinde-bearer',
    path: '/',
    auth: 'bearer-first',
  },
  {
    id: 'bearer-first-control',
    label: 'fastify-kinde `/`, bearer, repeated, sent as the first-use row sends',
    server: 'kinde-bearer',
    path: '/',
    auth: 'bearer-script',
  },
  {
    id: 'bearer-first-budget',
    label: 'the first-use budget: the control row plus one RSA verify + 10 µs per request',
    server: 'kinde-bearer',
    path: '/_bench/budget',
    auth: 'bearer-script',
  },
  {
    id: 'bearer-repeat',
    label: 'fastify-kinde `/`, bearer, repeated',
    server: 'kinde-bearer',
    path: '/',
    auth: 'bearer',
  },
  {
    // Not a product row: what the bearer row's request itself costs a server that ignores its token.
    id: 'fastify-bearer-header',
    label: 'bare Fastify hello, sent the bearer row’s `Authorization` header',
    server: 'fastify',
    path: '/',
    auth: 'bearer',
  },
  {
    id: 'kinde-memory-otel',
    label: 'fastify-kinde `/`, memory sessions, OpenTelemetry on',
    server: 'kinde-memory-otel',
    path: '/',
    auth: 'cookie',
  },
  {
    id: 'bearer-repeat-otel',
    label: 'fastify-kinde `/`, bearer, repeated, OpenTelemetry on',
    server: 'kinde-bearer-otel',
    path: '/',
    auth: 'bearer',
  },
  {
    id: 'items',
    label: 'fastify-kinde `/items/{item_id}`',
    server: 'kinde-memory',
    path: '/items/42?q=box',
    auth: 'cookie',
  },
  {
    id: 'fastify-warn',
    label: 'bare Fastify hello, logger at `warn`',
    server: 'fastify-warn',
    path: '/',
  },
  {
    id: 'app-sqlite',
    label: '`npm start` (bundle, SQLite, logger `warn`) `/`',
    server: 'items-app-sqlite',
    path: '/',
    auth: 'cookie',
    base: 'fastify-warn',
  },
  {
    id: 'app-memory',
    label: '`npm start` with SESSION_STORE=memory `/`',
    server: 'items-app-memory',
    path: '/',
    auth: 'cookie',
    base: 'fastify-warn',
  },
  {
    id: 'app-sqlite-outside',
    label: '`npm start`, production config (outside provider, SQLite) `/`',
    server: 'items-app-sqlite-outside',
    path: '/',
    auth: 'cookie',
    base: 'fastify-warn',
  },
  {
    id: 'app-memory-outside',
    label: '`npm start`, production config, SESSION_STORE=memory `/`',
    server: 'items-app-memory-outside',
    path: '/',
    auth: 'cookie',
    base: 'fastify-warn',
  },
  {
    id: 'express-kinde',
    label: 'Express + Kinde node-express SDK',
    server: 'express',
    path: '/',
    auth: 'cookie',
  },
];

/** Marks rows that cannot run in this tree (API not exported yet, Redis not reachable). */
async function availability() {
  const api = await import('fastify-kinde');
  const only = opts.only ? new Set(['fastify', ...opts.only.split(',')]) : null;
  // The app rows are judged against bare Fastify with the same logger: it runs with them.
  if (only && [...only].some((id) => id.startsWith('app-'))) only.add('fastify-warn');
  // The repeated token is shown over bare Fastify sent the same header too.
  if (only?.has('bearer-repeat')) only.add('fastify-bearer-header');
  // First use is judged against the same token repeated, sent the same way.
  if (only?.has('bearer-first')) {
    only.add('bearer-first-control');
    only.add('bearer-first-budget');
  }
  const redisStore = 'redisSessionStore' in api;
  const redisUp = redisStore && (await redisAnswers(REDIS_URL));
  const postgresStore = 'postgresSessionStore' in api;
  const postgresUp = postgresStore && (await postgresAnswers(DATABASE_URL));
  for (const row of ROWS) {
    if (only && !only.has(row.id)) row.status = 'skipped';
    else if (row.id === 'kinde-sqlite' && !('sqliteSessionStore' in api)) row.status = 'n/a (not built yet)';
    else if (row.id === 'kinde-redis' && !redisStore) row.status = 'n/a (not built yet)';
    else if (row.id === 'kinde-redis' && !redisUp) row.status = `n/a (no Redis at ${REDIS_URL})`;
    else if (row.id.startsWith('kinde-postgres') && !postgresStore) row.status = 'n/a (not built yet)';
    else if (row.id.startsWith('kinde-postgres') && !postgresUp)
      row.status = `n/a (no PostgreSQL at ${new URL(DATABASE_URL).host})`;
  }
  return { sqlite: 'sqliteSessionStore' in api };
}

/** @type {Map<string, string>} */
const bundles = new Map();
/** Each bundled server is built once per run. @param {string} name @param {string} script */
async function bundled(name, script) {
  let path = bundles.get(name);
  if (path === undefined) {
    path = await bundleServer(script, name);
    bundles.set(name, path);
  }
  return path;
}

/**
 * The environment of a row's server besides its PORT. The example app brings its own emulator (a
 * port and a working folder of its own), or, configured as in production (`app: 'outside'`), signs
 * in through the runner's emulator, as the bench app does.
 *
 * @param {ServerSpec} spec
 * @param {string} name
 * @param {string} port  the server's own port
 * @param {{ issuerUrl: string, clientId: string, clientSecret: string }} emulator
 * @returns {Promise<Record<string, string>>}
 */
async function serverEnv(spec, name, port, emulator) {
  if (spec.app === 'outside') {
    return {
      PROVIDER: 'outside',
      APP_DIR: join(scratch, name),
      KINDE_ISSUER_URL: emulator.issuerUrl,
      KINDE_CLIENT_ID: emulator.clientId,
      KINDE_CLIENT_SECRET: emulator.clientSecret,
      KINDE_SITE_URL: `http://127.0.0.1:${port}`,
      SESSION_SECRET: randomBytes(32).toString('base64url'),
    };
  }
  if (spec.app) return { EMULATOR_PORT: String(await freePort()), APP_DIR: join(scratch, name) };
  return {
    ISSUER_URL: emulator.issuerUrl,
    CLIENT_ID: emulator.clientId,
    CLIENT_SECRET: emulator.clientSecret,
  };
}

/**
 * Starts the servers the runnable rows need (or the `names` given) and logs in to those that guard
 * their routes. With `wrap`, each runs under that command (callgrind), given more time to start; with
 * `nodeArgs`, each node process gets those flags too.
 *
 * @param {{ issuerUrl: string, clientId: string, clientSecret: string }} emulator
 * @param {string | null} profileDir
 * @param {{ names?: Iterable<string>, wrap?: string[], nodeArgs?: string[] }} [how]
 */
async function startRowServers(emulator, profileDir, how = {}) {
  /** @type {Map<string, { pid: number, url: string, cookie: string, stop: () => Promise<void>, nextTickNs: () => Promise<number> }>} */
  const running = new Map();
  const wanted = new Set(how.names ?? ROWS.filter((r) => r.status === undefined).map((r) => r.server));
  for (const name of wanted) {
    const spec = /** @type {ServerSpec} */ (SERVERS[name]);
    try {
      if (name === 'kinde-redis') redisUsed = true;
      if (name.startsWith('kinde-postgres')) postgresUsed = true;
      const nodeArgs = [
        ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`] : []),
        ...(how.nodeArgs ?? []),
      ];
      const port = String(await freePort());
      const appEnv = await serverEnv(spec, name, port, emulator);
      const script = spec.bundle ? await bundled(name, join(HERE, spec.script)) : join(HERE, spec.script);
      const server = await startServer(script, {
        nodeArgs,
        env: {
          PORT: port,
          ...appEnv,
          ...(spec.env ?? {}),
          ...(how.wrap ? { REDIS_TIMEOUT_MS: '30000' } : {}),
        },
        ...(how.wrap ? { wrap: how.wrap, timeoutMs: 300_000 } : {}),
      });
      const url = server.info.url;
      const cookie = spec.cookie
        ? await sessionCookie(url, spec.cookie, spec.loginPath)
        : (server.info.cookie ?? '');
      running.set(name, { pid: server.pid, url, cookie, stop: server.stop, nextTickNs: server.nextTickNs });
      log(`  ${name} pid ${server.pid} at ${url}`);
    } catch (error) {
      for (const row of ROWS) {
        if (row.server === name && row.status === undefined) {
          row.status = `error: ${/** @type {Error} */ (error).message.split('\n')[0]}`;
        }
      }
      log(`  ${name} failed: ${/** @type {Error} */ (error).message}`);
    }
  }
  return running;
}

/**
 * Checks each row answers 200, and whether bearer tokens are accepted (a 200 with only an
 * Authorization header). Returns the real access token the bearer rows are modelled on.
 *
 * @param {Map<string, { url: string, cookie: string }>} running
 */
async function probeRows(running) {
  let accessToken = '';
  const kindeServer = ['kinde-bearer', 'kinde-memory', 'kinde-sqlite']
    .map((n) => running.get(n))
    .find(Boolean);
  if (kindeServer) {
    const answer = await probe(`${kindeServer.url}/_bench/token`, { cookie: kindeServer.cookie });
    accessToken = JSON.parse(answer.body).token ?? '';
  }
  const bearerServer = running.get('kinde-bearer');
  if (bearerServer) {
    const bearer = await probe(`${bearerServer.url}/`, { authorization: `Bearer ${accessToken}` });
    if (bearer.status !== 200) {
      for (const row of ROWS) {
        if (row.auth?.startsWith('bearer') && row.status === undefined) row.status = 'n/a (not built yet)';
      }
      log(`  bearer: / with an Authorization header and no cookie answered ${bearer.status}: not supported`);
    }
  }
  for (const row of ROWS) {
    const server = running.get(row.server);
    if (
      row.status !== undefined ||
      server === undefined ||
      row.auth === 'bearer-first' ||
      row.auth === 'bearer-script'
    )
      continue;
    const answer = await probe(server.url + row.path, headersFor(row, server, accessToken));
    if (answer.status !== 200) row.status = `error: answered ${answer.status}`;
  }
  return accessToken;
}

/**
 * @param {RowSpec} row
 * @param {{ cookie: string }} server
 * @param {string} accessToken
 * @returns {Record<string, string>}
 */
function headersFor(row, server, accessToken) {
  if (row.auth === 'cookie') return { cookie: server.cookie };
  if (row.auth === 'bearer') return { authorization: `Bearer ${accessToken}` };
  return {};
}

/**
 * "One signature check" on this machine, as CPU time: jose's `jwtVerify` (RS256, the emulator's
 * 2048-bit key, issuer checked), and node:crypto's bare RSA verify for comparison. In µs.
 *
 * @param {string} token
 * @param {any} privateJwk
 * @param {string} issuer
 */
async function signatureCheckUs(token, privateJwk, issuer) {
  const publicJwk = { kty: 'RSA', n: privateJwk.n, e: privateJwk.e };
  const key = await importJWK(publicJwk, 'RS256');
  const batch = async (/** @type {number} */ n) => {
    for (let i = 0; i < n; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, () => jwtVerify(token, key, { issuer, algorithms: ['RS256'] })),
      );
    }
  };
  await batch(500);
  const n = 3000;
  let before = process.cpuUsage();
  await batch(n);
  let used = process.cpuUsage(before);
  const jose = (used.user + used.system) / n;
  const nodeKey = createPublicKey({ key: publicJwk, format: 'jwk' });
  const [head = '', body = '', signature = ''] = token.split('.');
  const data = Buffer.from(`${head}.${body}`);
  const sig = Buffer.from(signature, 'base64url');
  for (let i = 0; i < 500; i++) verify('sha256', data, nodeKey, sig);
  before = process.cpuUsage();
  for (let i = 0; i < n; i++) verify('sha256', data, nodeKey, sig);
  used = process.cpuUsage(before);
  return { jose, node: (used.user + used.system) / n };
}

/**
 * Warm-up, token minting for first-use bearer rows, then interleaved rounds; with `restart`, every
 * round after the first on new server processes (warmed up again).
 *
 * @param {{ running: Map<string, { pid: number, url: string, cookie: string, stop: () => Promise<void> }> }} servers
 * @param {string} accessToken
 * @param {{ kid: string, privateJwk: object }} keys
 * @param {number[]} ownPids
 * @param {(() => Promise<void>) | null} restart
 */
async function loadRows(servers, accessToken, keys, ownPids, restart) {
  let quietBudgetMs = plan.quietBudgetS * 1000;
  const active = ROWS.filter((r) => r.status === undefined);
  /** @type {Map<string, import('./lib/load.mjs').LoadResult[]>} */
  const results = new Map(active.map((r) => [r.id, []]));
  /** @type {string[][]} */
  let firstUseSlices = [];
  /** @type {string[]} */
  let sameTokens = [];
  log(`warming up ${active.length} rows (${plan.warm} s each)`);
  await warmUp(true);

  /** Every row loaded once, unmeasured; the first time, the first-use tokens are minted. @param {boolean} first */
  async function warmUp(first) {
    for (const row of active) {
      const running = servers.running;
      const server = /** @type {{ pid: number, url: string, cookie: string }} */ (running.get(row.server));
      if (server === undefined || row.status !== undefined) continue;
      if (row.auth === 'bearer-first' && !first) {
        await load({
          url: server.url + row.path,
          pid: server.pid,
          seconds: 1,
          tokens: await mintTokens({ template: accessToken, ...keys, count: 2_000 }),
        });
        continue;
      }
      if (row.auth === 'bearer-first') {
        const warmTokens = await mintTokens({ template: accessToken, ...keys, count: 3_000 });
        const warm = await load({
          url: server.url + row.path,
          pid: server.pid,
          seconds: plan.warm,
          tokens: warmTokens,
        });
        if (warm.bad > 0) row.status = `error: ${warm.bad} of ${warm.ok + warm.bad} first-use tokens refused`;
        const perRound = Math.min(plan.tokenCap, Math.max(2_000, Math.round(warm.rps * plan.seconds)));
        log(`  minting ${(perRound * plan.rounds).toLocaleString('en')} never-seen tokens`);
        const minted = await mintTokens({ template: accessToken, ...keys, count: perRound * plan.rounds });
        firstUseSlices = Array.from({ length: plan.rounds }, (_, i) =>
          minted.slice(i * perRound, (i + 1) * perRound),
        );
        // The control row sends the one cached token the same way, as many times.
        sameTokens = Array.from({ length: perRound }, () => accessToken);
        continue;
      }
      if (row.auth === 'bearer-script') {
        await load({
          url: server.url + row.path,
          pid: server.pid,
          seconds: plan.warm,
          tokens: Array.from({ length: 3_000 }, () => accessToken),
        });
        continue;
      }
      await load({
        url: server.url + row.path,
        pid: server.pid,
        seconds: first ? plan.warm : 1,
        headers: headersFor(row, server, accessToken),
      });
    }
  }
  /** @param {RowSpec} row @param {number} round */
  const measure = async (row, round) => {
    const server =
      /** @type {{ pid: number, url: string, cookie: string, nextTickNs: () => Promise<number> }} */ (
        servers.running.get(row.server)
      );
    quietBudgetMs -= await waitForQuiet(quietBudgetMs);
    const result = await load({
      ownPids,
      url: server.url + row.path,
      pid: server.pid,
      seconds: plan.seconds,
      headers: headersFor(row, server, accessToken),
      tokens:
        row.auth === 'bearer-first'
          ? firstUseSlices[round]
          : row.auth === 'bearer-script'
            ? sameTokens.length > 0
              ? sameTokens
              : Array.from({ length: 20_000 }, () => accessToken)
            : undefined,
    });
    log(
      `  ${row.id.padEnd(14)} ${Math.round(result.rps).toString().padStart(7)} req/s  ${result.cpuPerReqUs.toFixed(1).padStart(7)} µs CPU/req  other load ${result.foreignPct.toFixed(0)}%${result.bad ? `  ${result.bad} failed` : ''}`,
    );
    // The state this load ran with: V8 has optimized `nextTick` by now (servers/ready.mjs).
    return { ...result, nextTickNs: await server.nextTickNs(), nextTickPid: server.pid };
  };
  for (let round = 0; round < plan.rounds; round++) {
    const order = active.map((_, i) => active[(i + round) % active.length]);
    if (round > 0 && restart !== null) {
      // New processes for every round: one process of a build can run persistently slower or faster
      // than another (where its memory landed); the median over rounds is then one over processes.
      log(`round ${round + 1}/${plan.rounds}: new server processes`);
      await restart();
      await warmUp(false);
    }
    log(`round ${round + 1}/${plan.rounds}`);
    for (const row of /** @type {RowSpec[]} */ (order)) {
      if (row.status !== undefined) continue;
      // A baseline row is measured on its own; every other row right after its baseline, so that the
      // pair shares the machine's state of that moment (a shared machine's speed drifts over minutes).
      if ((row.base ?? 'fastify') === row.id) {
        results.get(row.id)?.push(await measure(row, round));
        continue;
      }
      const baseRow = active.find((r) => r.id === (row.base ?? 'fastify'));
      const base = baseRow === undefined ? undefined : await measure(baseRow, round);
      if (base !== undefined) results.get(baseRow?.id ?? '')?.push(base);
      const result = await measure(row, round);
      results.get(row.id)?.push(base === undefined ? result : { ...result, pairedBase: base });
    }
  }
  return results;
}

/**
 * Each server process's `nextTick` figure, in round order: the last one measured in it (a baseline is
 * measured several times in a round, by one process).
 *
 * @param {{ nextTickNs?: number, nextTickPid?: number }[]} rounds
 */
function lastPerProcess(rounds) {
  /** @type {Map<number | undefined, number>} */
  const byPid = new Map();
  for (const r of rounds) {
    byPid.set(r.nextTickPid, r.nextTickNs ?? Number.NaN);
  }
  return [...byPid.values()];
}

/** @param {Map<string, import('./lib/load.mjs').LoadResult[]>} results */
function summarise(results) {
  const rows = ROWS.filter((r) => r.status !== 'skipped').map((row) => {
    const rounds = results.get(row.id) ?? [];
    const status = row.status ?? (rounds.length > 0 ? 'ok' : 'not run');
    return {
      id: row.id,
      label: row.label,
      status,
      rps: median(rounds.map((r) => r.rps)),
      p50: median(rounds.map((r) => r.p50)),
      p99: median(rounds.map((r) => r.p99)),
      cpuPerReqUs: median(rounds.map((r) => r.cpuPerReqUs)),
      userPerReqUs: median(rounds.map((r) => r.userPerReqUs)),
      base: row.base ?? 'fastify',
      ratio: Number.NaN,
      cpuRatio: Number.NaN,
      extraCpuUs: Number.NaN,
      extraCpuRange: [Number.NaN, Number.NaN],
      foreignPct: median(rounds.map((r) => r.foreignPct)),
      nextTickNs: lastPerProcess(rounds),
      bad: rounds.reduce((sum, r) => sum + r.bad, 0),
      rounds,
    };
  });
  // Each round's ratio is taken against the row's baseline (bare Fastify, with the same logger for the
  // app rows) in the same round; the median of those is reported. So is the CPU per request over it.
  // A row's runs each carry the baseline run made just before it (`pairedBase`); a baseline row is
  // 1.00 by definition.
  for (const row of rows) {
    const base = rows.find((r) => r.id === row.base);
    /** @param {any} r */
    const baseOf = (r) => r.pairedBase ?? (row.id === row.base ? r : undefined);
    // A baseline's runs made for another row carry no pair of their own: left out here.
    const paired = row.rounds.filter((r) => baseOf(r) !== undefined);
    row.ratio = median(paired.map((r) => r.rps / baseOf(r).rps));
    row.cpuRatio = median(paired.map((r) => baseOf(r).cpuPerReqUs / r.cpuPerReqUs));
    const extras = paired.map((r) => r.cpuPerReqUs - baseOf(r).cpuPerReqUs).filter(Number.isFinite);
    row.extraCpuUs = median(extras);
    // The spread of the pairs, shown beside the median: on a noisy machine it is wider than a target.
    row.extraCpuRange =
      extras.length > 0 ? [Math.min(...extras), Math.max(...extras)] : [Number.NaN, Number.NaN];
    if (base === undefined) {
      row.ratio = row.cpuRatio = row.extraCpuUs = Number.NaN;
      row.extraCpuRange = [Number.NaN, Number.NaN];
    }
  }
  return rows;
}

/**
 * The rows counted in instructions: every row an issue-15 target judges, and their baselines. The
 * first-use control is the same token repeated (this phase's client sends every row the same way).
 * Each row is counted in a fresh process of its server ({@link instructionPhase}).
 */
const COUNTED = [
  'fastify',
  'fastify-warn',
  'fastify-map',
  'kinde-memory',
  'kinde-sqlite',
  'kinde-redis',
  'fastify-bearer-header',
  'bearer-repeat',
  'bearer-first-control',
  'bearer-first',
  'app-sqlite',
  'app-memory',
  'app-sqlite-outside',
  'app-memory-outside',
];

/**
 * Instructions per request of each counted row that ran (lib/callgrind.mjs), each row in a fresh
 * process of its server under callgrind, warmed up until its count settles, then 7 batches; and one node:crypto RSA
 * verification's instructions (servers/rsa-verify.mjs). Slow servers: 2,000 requests a batch, 500 for
 * first-use tokens (each is minted, never seen, and costs a signature check).
 *
 * @param {{ issuerUrl: string, clientId: string, clientSecret: string }} emulator
 * @param {string} accessToken
 * @param {{ kid: string, privateJwk: object }} keys
 */
async function instructionPhase(emulator, accessToken, keys) {
  const rows = COUNTED.map((id) => ROWS.find((r) => r.id === id)).filter(
    (r) => r !== undefined && r.status === undefined,
  );
  /** @type {Map<string, { perRequest: number[], warmBatches: number } | { error: string }>} */
  const counts = new Map();
  const dir = join(scratch, 'callgrind');
  mkdirSync(dir, { recursive: true });
  const wrap = callgrindWrap(dir, { detail: profiles !== undefined });
  const rounds = 7;
  log(`instructions: ${rows.length} rows under valgrind's callgrind (${rounds} batches each, after warm-up)`);
  // Each row in a process of its own: a row counted after another in the same process inherits its
  // compilations and collections (the first-use control row counted after the repeated token carried
  // a recompiling batch into its median, 58,282 to 90,123 instructions per request).
  for (const row of rows) {
    const name = row.server;
    const running = await startRowServers(emulator, null, {
      names: [name],
      wrap,
      nodeArgs: [
        ...YOUNG_GENERATION,
        // V8 names its compiled code in /tmp/perf-<pid>.map, for instruction-diff.mjs.
        ...(profiles !== undefined ? ['--perf-basic-prof'] : []),
      ],
    });
    const server = running.get(name);
    if (server === undefined) {
      counts.set(row.id, { error: `error: ${name} did not start under callgrind` });
    } else {
      const url = server.url + row.path;
      const headers = headersFor(row, server, accessToken);
      const first = row.auth === 'bearer-first';
      const repeated = row.auth === 'bearer-script' ? [accessToken] : undefined;
      const client = keepAliveClient(CONNECTIONS);
      const counter = instructionCounter(server.pid, dir);
      const batch = first ? 500 : 2_000;
      try {
        if (first) {
          // A fresh process is first warmed up with the repeated token, sent the same way, as much as
          // its control row is (about 16,000 requests): 2,000 to 4,000 new tokens alone leave V8
          // compiling the shared request path through the measured batches (their median 506,000
          // instructions per request, against 468,000 after the control row's traffic).
          await client.send({ url, count: 16_000, headers, tokens: [accessToken] });
        }
        const result = await countPerRequest({
          counter,
          batch,
          rounds,
          ...(first ? { minWarm: 4, maxWarm: 8 } : {}),
          log,
          send: async (count) =>
            client.send({
              url,
              count,
              headers,
              tokens: first ? await mintTokens({ template: accessToken, ...keys, count }) : repeated,
            }),
        });
        counts.set(row.id, result);
        if (profiles !== undefined) {
          // A profile that cannot be kept is said, and the row's count stands.
          try {
            keepProfile(profiles, row.id, server.pid, counter.files, batch, result);
          } catch (error) {
            log(`    profile not kept: ${/** @type {Error} */ (error).message.split('\n')[0]}`);
          }
        }
        log(
          `  ${row.id.padEnd(20)} ${Math.round(median(result.perRequest)).toLocaleString('en').padStart(9)} instructions/request (${result.perRequest.map((n) => Math.round(n).toLocaleString('en')).join(', ')})`,
        );
      } catch (error) {
        counts.set(row.id, { error: `error: ${/** @type {Error} */ (error).message.split('\n')[0]}` });
        log(`  ${row.id} failed: ${/** @type {Error} */ (error).message}`);
      } finally {
        client.close();
      }
    }
    for (const started of running.values()) {
      await started.stop();
      if (profiles !== undefined) rmSync(`/tmp/perf-${started.pid}.map`, { force: true });
    }
  }
  let rsaVerify = Number.NaN;
  if (rows.some((r) => r.auth === 'bearer-first')) {
    const server = await startServer(join(HERE, 'servers/rsa-verify.mjs'), {
      env: { PORT: String(await freePort()), SIGNED_BYTES: String(accessToken.lastIndexOf('.')) },
      nodeArgs: YOUNG_GENERATION,
      wrap,
      timeoutMs: 300_000,
    });
    const per = 100;
    const client = keepAliveClient(1);
    const result = await countPerRequest({
      counter: instructionCounter(server.pid, dir),
      batch: 10,
      rounds,
      minWarm: 2,
      send: (count) => client.send({ url: `${server.info.url}/?n=${per}`, count }),
    }).finally(() => client.close());
    await server.stop();
    rsaVerify = median(result.perRequest) / per;
    log(`  one node:crypto RSA verify: ${Math.round(rsaVerify).toLocaleString('en')} instructions`);
  }
  rmSync(dir, { recursive: true, force: true });
  return { counts, rsaVerify };
}

/**
 * Keeps a row's median measured batch for instruction-diff.mjs: `<id>.callgrind` (its dump), `<id>.map`
 * (V8's perf map of the process as it is now) and `<id>.json` (requests in the batch, the batches' counts).
 *
 * @param {string} profiles
 * @param {string} id
 * @param {number} pid
 * @param {string[]} dumps  every dump of the row, the measured batches last
 * @param {number} batch
 * @param {{ perRequest: number[] }} result
 */
function keepProfile(profiles, id, pid, dumps, batch, result) {
  const measured = dumps.slice(-result.perRequest.length);
  // The median batch itself (7 batches: one of them); the last when the median falls between two.
  const middle = result.perRequest.indexOf(median(result.perRequest));
  copyFileSync(/** @type {string} */ (measured.at(middle)), join(profiles, `${id}.callgrind`));
  copyFileSync(`/tmp/perf-${pid}.map`, join(profiles, `${id}.map`));
  writeFileSync(
    join(profiles, `${id}.json`),
    `${JSON.stringify({ id, batch, perRequest: result.perRequest })}\n`,
  );
  log(`    profile kept: ${join(profiles, id)}.{callgrind,map,json}`);
}

/**
 * @param {{ issuerUrl: string, clientId: string, clientSecret: string }} emulator
 * @param {boolean} sqlite
 * @param {number[]} ownPids
 */
async function growthPhase(emulator, sqlite, ownPids) {
  /** @type {any[]} */
  const growth = [];
  for (const store of /** @type {const} */ (['memory', 'sqlite'])) {
    if (store === 'sqlite' && !sqlite) {
      for (const n of plan.sizes) growth.push({ store, sessions: n, status: 'n/a (not built yet)' });
      continue;
    }
    log(`growth: ${store} store, ${plan.sizes.map((n) => n.toLocaleString('en')).join(' / ')} sessions`);
    try {
      const entries = await measureGrowth({
        store,
        sizes: plan.sizes,
        emulator,
        scratch,
        plan: plan.growth,
        log,
        ownPids,
        load,
      });
      const base = median((entries[0]?.rounds ?? []).map((/** @type {any} */ r) => r.rps));
      for (const e of entries) {
        if (e.status !== undefined) {
          growth.push(e);
          continue;
        }
        const measured = e.rounds.length > 0;
        growth.push({
          ...e,
          status: measured ? 'ok' : `n/a (filled ${e.filled.toLocaleString('en')} in the time budget)`,
          rps: median(e.rounds.map((/** @type {any} */ r) => r.rps)),
          p99: median(e.rounds.map((/** @type {any} */ r) => r.p99)),
          cpuPerReqUs: median(e.rounds.map((/** @type {any} */ r) => r.cpuPerReqUs)),
          ratio: median(e.rounds.map((/** @type {any} */ r) => r.rps)) / base,
          cpuRatio:
            median((entries[0]?.rounds ?? []).map((/** @type {any} */ r) => r.cpuPerReqUs)) /
            median(e.rounds.map((/** @type {any} */ r) => r.cpuPerReqUs)),
          foreignPct: median(e.rounds.map((/** @type {any} */ r) => r.foreignPct)),
        });
      }
    } catch (error) {
      log(`  ${store} growth failed: ${/** @type {Error} */ (error).message}`);
      for (const n of plan.sizes)
        growth.push({
          store,
          sessions: n,
          status: `error: ${/** @type {Error} */ (error).message.split('\n')[0]}`,
        });
    }
  }
  return growth;
}

function machine() {
  const list = cpus();
  return {
    cpu: list[0]?.model ?? 'unknown',
    cores: list.length,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    pinning: pinning
      ? `servers on core ${pinning.server}, load generator and emulator on core ${pinning.load}`
      : 'none (taskset missing or one core)',
    loadGenerator: `${useWrk ? 'wrk -t1 (per-request tokens by a Lua script)' : 'autocannon'}, ${CONNECTIONS} connections, no pipelining`,
  };
}

/** Replaces the results section of bench/README.md (full runs only). @param {string} markdown */
function updateReadme(markdown) {
  const path = join(HERE, 'README.md');
  let text;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  const begin = '<!-- results:begin -->';
  const end = '<!-- results:end -->';
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return;
  writeFileSync(path, `${text.slice(0, a + begin.length)}\n${markdown}\n${text.slice(b)}`);
}

async function main() {
  const started = Date.now();
  if (opts.profile) {
    opts['skip-startup'] = true;
    opts['skip-growth'] = true;
  }
  pinSelf();
  const features = await availability();
  log(
    `fastify-kinde bench: ${opts.quick ? 'quick' : 'full'} run, ${plan.rounds} round(s) × ${plan.seconds} s per row; ${machine().pinning}`,
  );
  const emulatorServer = await startServer(join(HERE, 'servers/emulator.mjs'), {
    core: 'load',
    env: { PORT: String(await freePort()) },
  });
  const emulator = emulatorServer.info;
  const keys = { kid: emulator.kid, privateJwk: emulator.privateJwk };
  const profileDir = opts.profile ? join(scratch, 'profiles') : null;
  const servers = { running: await startRowServers(emulator, profileDir) };
  const accessToken = await probeRows(servers.running);
  const restart =
    profileDir === null && !opts['same-servers']
      ? async () => {
          for (const server of servers.running.values()) await server.stop();
          servers.running = await startRowServers(emulator, null);
        }
      : null;
  const results = await loadRows(servers, accessToken, keys, [emulatorServer.pid], restart);
  const rows = summarise(results);
  const running = servers.running;
  for (const server of running.values()) await server.stop();
  const signature = accessToken
    ? await signatureCheckUs(accessToken, emulator.privateJwk, emulator.issuerUrl)
    : { jose: Number.NaN, node: Number.NaN };
  let instructions = null;
  if (!opts.quick && !opts.profile && !opts['skip-instructions']) {
    if (callgrindAvailable())
      instructions = summariseInstructions(await instructionPhase(emulator, accessToken, keys), rows);
    else log('instructions: valgrind is not installed (apt-get install -y valgrind): not counted');
  }

  if (profileDir) {
    for (const name of running.keys()) {
      const all = topSelfTime(join(profileDir, name), Number.POSITIVE_INFINITY);
      console.log(`\n${name}: self time by package (% of busy time)`);
      for (const p of byPackage(all).slice(0, 10))
        console.log(`  ${p.selfPct.toFixed(1).padStart(5)}%  ${p.name}`);
      console.log(`${name}: top functions by self time`);
      for (const f of all.slice(0, Number(process.env.BENCH_PROFILE_TOP ?? 20)))
        console.log(`  ${f.selfPct.toFixed(1).padStart(5)}%  ${f.fn}  ${f.where}`);
      for (const fn of (process.env.BENCH_PROFILE_CALLERS ?? '').split(',').filter(Boolean)) {
        console.log(`${name}: callers of ${fn} (% of busy time)`);
        for (const c of callersOf(join(profileDir, name), fn))
          console.log(`  ${c.selfPct.toFixed(1).padStart(5)}%  ${c.chain}`);
      }
    }
  }

  let startup = null;
  if (!opts['skip-startup']) {
    log(`start-up: ${plan.startupRuns} runs of the compiled example app`);
    try {
      startup = await measureStartup(plan.startupRuns);
    } catch (error) {
      log(`  start-up failed: ${/** @type {Error} */ (error).message}`);
    }
  }
  const growth = opts['skip-growth']
    ? []
    : await growthPhase(emulator, features.sqlite, [emulatorServer.pid]);
  await emulatorServer.stop();
  if (redisUsed) await deletePrefix(REDIS_URL, REDIS_PREFIX);
  if (postgresUsed) for (const table of [PG_TABLE, `${PG_TABLE}_nc`]) await dropTables(DATABASE_URL, table);

  const targets = judge({ rows, growth, startup, signature, instructions });
  const date = new Date().toISOString();
  const info = machine();
  const caption = `${date.slice(0, 10)} · ${info.cores} × ${info.cpu} · Node ${info.node} · ${opts.quick ? 'quick run' : `median of ${plan.rounds} × ${plan.seconds} s`}`;
  const markdown = [
    `Run ${date} (${opts.quick ? 'quick' : 'full'}), ${info.cores} cores (${info.cpu}), Node ${info.node}, ${info.pinning}; ${info.loadGenerator}; ${opts.quick ? '1 round × 2 s' : `median of ${plan.rounds} interleaved rounds × ${plan.seconds} s`} per row.`,
    '',
    rowsMarkdown(rows),
    '',
    'Baseline: bare Fastify, and for the `npm start` rows bare Fastify with the same logger (pino at `warn`). Each row run is paired with a run of its baseline made just before it; "CPU µs/req over baseline" is the median of the pairs\' differences, with the lowest and highest pair in brackets.',
    '',
    startupMarkdown(startup),
    '',
    growthMarkdown(growth),
    '',
    `One signature check on this machine, CPU time: jose \`jwtVerify\` (RS256, 2048-bit key) ${signature.jose.toFixed(1)} µs; node:crypto RSA verify alone ${signature.node.toFixed(1)} µs.`,
    '',
    ...(instructions === null ? [] : [instructionsMarkdown(instructions), '']),
    targetsMarkdown(targets),
  ].join('\n');
  console.log(`\n${markdown}\n`);
  console.log(`targets (measured / wanted / verdict):\n${targetsText(targets)}\n`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  if (opts.profile || opts.only) return;
  const name = opts.quick ? 'quick' : 'latest';
  const out = join(HERE, 'results');
  mkdirSync(out, { recursive: true });
  const json = {
    date,
    quick: opts.quick,
    machine: info,
    plan,
    signatureCheckUs: signature,
    rows,
    startup,
    growth,
    instructions:
      instructions === null
        ? null
        : {
            rows: instructions.rows,
            rsaVerify: instructions.rsaVerify,
            usPerInstruction: Object.fromEntries(instructions.usPerInstruction),
          },
    targets,
  };
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(join(out, `${name}.svg`), chartSvg(rows, caption));
  writeFileSync(join(out, `${name}.md`), `${markdown}\n`);
  if (!opts.quick) updateReadme(markdown);
  log(`wrote bench/results/${name}.json, ${name}.svg and ${name}.md`);
}

try {
  await main();
  process.exit(0);
} catch (error) {
  console.error(error);
  process.exit(1);
}
