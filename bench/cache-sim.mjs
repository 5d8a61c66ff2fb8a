#!/usr/bin/env node
// Instructions *and simulated cache misses* per request of `npm start`'s protected `GET /`, beside
// bare Fastify with the same logger, alone and with an emulator in its thread (the history of
// `npm start`'s process, bench/process-history.mjs). Each server runs in a fresh process under
// valgrind's callgrind with its cache simulation (lib/callgrind.mjs), signed in where it needs a
// session, warmed up until its count settles, then 5 batches of 2,000 requests over 50 keep-alive
// connections; the median batch (by instructions) is its figure.
//
// The wall-clock rows charge `npm start` several µs more than its instructions explain (bench/README.md,
// "Latest results"); this VM gives no hardware counters, so callgrind's model stands in for them. The
// caches simulated are fixed, not read off the VM (which reports a 508 MiB third level): a first level
// of 32 KiB for instructions (8-way) and 48 KiB for data (12-way), and a last level of 1 MiB (8-way), the
// private second level of this machine's AMD EPYC cores; 64-byte lines.
//
//   node bench/cache-sim.mjs [--rows fastify-warn,fastify-warn-emulator,app-memory,app-sqlite]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from 'test-kit';
import {
  callgrindAvailable,
  callgrindWrap,
  countPerRequest,
  instructionCounter,
  keepAliveClient,
  YOUNG_GENERATION,
} from './lib/callgrind.mjs';
import { sessionCookie } from './lib/login.mjs';
import { killAll, startServer } from './lib/proc.mjs';
import { providerTraffic } from './lib/provider-traffic.mjs';

const here = (/** @type {string} */ path) => new URL(path, import.meta.url).pathname;
/** @type {Record<string, { label: string, script: string, env: () => Promise<Record<string, string>>, signIn?: boolean, history?: boolean }>} */
const ROWS = {
  'fastify-warn': {
    label: 'bare Fastify, logger `warn`',
    script: here('servers/fastify.mjs'),
    env: async () => ({ LOGGER: 'warn' }),
  },
  'fastify-warn-emulator': {
    label: 'the same, an emulator in its thread (60 requests)',
    script: here('servers/fastify-history.mjs'),
    env: async () => ({ HISTORY: 'emulator' }),
    history: true,
  },
  'app-memory': {
    label: '`npm start`, SESSION_STORE=memory',
    script: here('servers/items-app.mjs'),
    env: async () => ({ SESSION_STORE: 'memory', EMULATOR_PORT: String(await freePort()) }),
    signIn: true,
  },
  'app-sqlite': {
    label: '`npm start` (SQLite)',
    script: here('servers/items-app.mjs'),
    env: async () => ({ EMULATOR_PORT: String(await freePort()) }),
    signIn: true,
  },
};
const USAGE = `usage: node bench/cache-sim.mjs [--rows ${Object.keys(ROWS).join(',')}]`;
/** @type {Record<string, any>} */
let values;
try {
  ({ values } = parseArgs({
    options: { rows: { type: 'string', default: Object.keys(ROWS).join(',') }, help: { type: 'boolean' } },
  }));
} catch (error) {
  console.error(`${/** @type {Error} */ (error).message}\n${USAGE}`);
  process.exit(2);
}
const ids = values.rows.split(',');
if (values.help || ids.some((id) => !(id in ROWS))) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}
if (!callgrindAvailable()) {
  console.error(`cache-sim: valgrind is not installed (apt-get install -y valgrind)\n${USAGE}`);
  process.exit(2);
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

const CACHES = ['--I1=32768,8,64', '--D1=49152,12,64', '--LL=1048576,8,64'];
const dir = mkdtempSync(join(tmpdir(), 'cache-sim-'));
const wrap = [...callgrindWrap(dir, { cacheSim: true }), ...CACHES];
const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;

/**
 * A session cookie from a sign-in through the app's embedded emulator. Under the cache simulation the
 * app's first calls to its provider can outlast their timeout (the login then answers 503 and backs
 * off): tried up to 6 times, 5 s apart.
 * @param {string} url
 */
async function signIn(url) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sessionCookie(url, /kinde_session$/);
    } catch (error) {
      if (attempt === 6) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5_000));
    }
  }
}

/** One row's events per request, from its median batch. @param {string} id */
async function measure(id) {
  const row = /** @type {(typeof ROWS)[string]} */ (ROWS[id]);
  const server = await startServer(row.script, {
    env: { PORT: String(await freePort()), APP_DIR: join(dir, `app-${id}`), ...(await row.env()) },
    // As run.mjs starts the rows it counts; and without V8's memory reducer, which starts full
    // collections on a timer when a process allocates slowly, as every process does at callgrind's pace
    // with the caches simulated (batches then ranged from 54,000 to 120,000 instructions per request),
    // and none does under a real load.
    nodeArgs: [...YOUNG_GENERATION, '--no-memory-reducer'],
    wrap,
    timeoutMs: 300_000,
  });
  const client = keepAliveClient(50);
  try {
    const url = /** @type {string} */ (server.info.url);
    if (row.history) await providerTraffic(/** @type {string} */ (server.info.emulator));
    const headers = row.signIn ? { cookie: await signIn(url) } : {};
    const { events: batches } = await countPerRequest({
      counter: instructionCounter(server.pid, dir),
      batch: 2_000,
      rounds: 5,
      send: (n) => client.send({ url: `${url}/`, count: n, headers }),
    });
    console.log(
      `  (${id}: batches of ${batches.map((b) => int(b.Ir ?? 0)).join(', ')} instructions per request)`,
    );
    const mid = median(batches.map((b) => b.Ir ?? 0));
    return /** @type {Record<string, number>} */ (batches.find((b) => b.Ir === mid));
  } finally {
    client.close();
    await server.stop();
  }
}

const int = (/** @type {number} */ n) => Math.round(n).toLocaleString('en');
const signed = (/** @type {number} */ n) => `${n >= 0 ? '+' : '−'}${int(Math.abs(n))}`;
/** @param {Record<string, number>} e */
const misses = (e) => ({
  Ir: e.Ir ?? 0,
  I1: e.I1mr ?? 0,
  D1: (e.D1mr ?? 0) + (e.D1mw ?? 0),
  LL: (e.ILmr ?? 0) + (e.DLmr ?? 0) + (e.DLmw ?? 0),
});
try {
  console.log(
    `cache-sim: per request under callgrind's cache simulation (I1 32 KiB, D1 48 KiB, LL 1 MiB), median of 5 batches of 2,000, Node ${process.version}`,
  );
  console.log(
    `${'row'.padEnd(52)} ${'instructions'.padStart(13)} ${'I1 misses'.padStart(10)} ${'D1 misses'.padStart(10)} ${'LL misses'.padStart(10)}`,
  );
  /** @type {ReturnType<typeof misses> | undefined} */
  let base;
  for (const id of ids) {
    const m = misses(await measure(id));
    const row = /** @type {(typeof ROWS)[string]} */ (ROWS[id]);
    console.log(
      `${row.label.padEnd(52)} ${int(m.Ir).padStart(13)} ${int(m.I1).padStart(10)} ${int(m.D1).padStart(10)} ${int(m.LL).padStart(10)}`,
    );
    if (base === undefined) base = m;
    else
      console.log(
        `${'  over the first row'.padEnd(52)} ${signed(m.Ir - base.Ir).padStart(13)} ${signed(m.I1 - base.I1).padStart(10)} ${signed(m.D1 - base.D1).padStart(10)} ${signed(m.LL - base.LL).padStart(10)}`,
      );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
