#!/usr/bin/env node
// Where each µs of `npm start`'s protected `GET /` goes, against bare Fastify with the same logger:
// Linux `perf` samples both server processes under the same wrk load (whole process: kernel, Node's
// C++, V8's builtins and JIT code, named through `--perf-basic-prof`), and the per-request time of
// every symbol is compared. Unlike `run.mjs --profile` (V8's sampler: JavaScript only, main thread),
// this sees the socket's kernel path, the HTTP parser and the garbage collector as they are.
//
//   node bench/perf-diff.mjs [--store memory|sqlite] [--rounds 4] [--seconds 3] [--top 25]
//
// Needs `perf` (Debian: linux-perf) and wrk; run as root or with perf_event_paranoid ≤ 1. Prints the
// CPU per request of each server, each process's `process.nextTick` cost (bench/README, "Latest
// round"), the difference by area (kernel, Node/V8 native, JavaScript by origin, garbage collection)
// and the symbols with the largest differences. Samples are taken at 10 kHz of CPU time (`cpu-clock`),
// so a sample is 100 µs of the process's CPU; per-request figures pool all rounds.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from 'test-kit';
import { sessionCookie } from './lib/login.mjs';
import { killAll, pinSelf, startServer, track } from './lib/proc.mjs';
import { runWrk, wrkAvailable } from './lib/wrk.mjs';

const USAGE =
  'usage: node bench/perf-diff.mjs [--store memory|sqlite] [--rounds N (1-20)] [--seconds S (1-30)] [--top N (1-200)]';
/** @type {Record<string, any>} */
let values;
try {
  ({ values } = parseArgs({
    options: {
      store: { type: 'string', default: 'memory' },
      rounds: { type: 'string', default: '4' },
      seconds: { type: 'string', default: '3' },
      top: { type: 'string', default: '25' },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  console.error(`${/** @type {Error} */ (error).message}\n${USAGE}`);
  process.exit(2);
}
const whole = (/** @type {string} */ text, /** @type {number} */ max) =>
  /^[0-9]{1,3}$/.test(text) && Number(text) >= 1 && Number(text) <= max ? Number(text) : Number.NaN;
const rounds = whole(values.rounds, 20);
const seconds = whole(values.seconds, 30);
const top = whole(values.top, 200);
if (
  values.help ||
  !['memory', 'sqlite'].includes(values.store) ||
  [rounds, seconds, top].some(Number.isNaN)
) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}
if (!wrkAvailable()) {
  console.error(`perf-diff: wrk is not installed (${USAGE})`);
  process.exit(2);
}
try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  console.error(`perf-diff: perf is not installed (Debian: linux-perf) (${USAGE})`);
  process.exit(2);
}

const FREQUENCY = 10_000;
const scratch = mkdtempSync(join(tmpdir(), 'fastify-kinde-perf-diff-'));
/** Servers whose perf map (/tmp/perf-<pid>.map, written by --perf-basic-prof) is removed at the end. */
const mapped = /** @type {number[]} */ ([]);
process.on('exit', () => {
  killAll();
  rmSync(scratch, { recursive: true, force: true });
  for (const pid of mapped) rmSync(`/tmp/perf-${pid}.map`, { force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
pinSelf();

const here = (/** @type {string} */ path) => new URL(path, import.meta.url).pathname;
// V8 logs next to the perf map (isolate-*.log in the working folder otherwise): in the scratch folder.
const nodeArgs = ['--perf-basic-prof', `--logfile=${join(scratch, 'v8.log')}`, '--no-logfile-per-isolate'];
const base = await startServer(here('servers/fastify.mjs'), {
  env: { PORT: String(await freePort()), LOGGER: 'warn' },
  nodeArgs,
});
const app = await startServer(here('servers/items-app.mjs'), {
  env: {
    PORT: String(await freePort()),
    EMULATOR_PORT: String(await freePort()),
    APP_DIR: join(scratch, 'app'),
    ...(values.store === 'memory' ? { SESSION_STORE: 'memory' } : {}),
  },
  nodeArgs,
});
mapped.push(base.pid, app.pid);
const cookie = await sessionCookie(app.info.url, /session/);
const servers = [
  { name: 'bare Fastify, logger warn', server: base, headers: /** @type {Record<string, string>} */ ({}) },
  { name: `npm start, ${values.store} store`, server: app, headers: { Cookie: cookie } },
];

/** One wrk run of `s` seconds against `url` (-t1 -c50, as the bench loads): the 2xx responses (anything else fails the tool). */
async function load(
  /** @type {string} */ url,
  /** @type {number} */ pid,
  /** @type {Record<string, string>} */ headers,
  /** @type {number} */ s,
) {
  const run = await runWrk({ url: `${url}/`, pid, seconds: s, headers });
  if (!(run.ok > 0) || run.bad > 0)
    throw new Error(`wrk against ${url}: ${run.ok} answered, ${run.bad} failed`);
  return run.ok;
}

/** `perf record` of `pid` while `during` runs; resolves with `during`'s result once perf has written its file. */
async function recorded(
  /** @type {number} */ pid,
  /** @type {string} */ file,
  /** @type {() => Promise<number>} */ during,
) {
  const perf = spawn(
    'perf',
    ['record', '-q', '-e', 'cpu-clock', '-F', String(FREQUENCY), '-p', String(pid), '-o', file],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  track(perf);
  let stderr = '';
  perf.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const exited = new Promise((resolve, reject) => {
    perf.once('exit', (code, signal) =>
      code === 0 || signal === 'SIGINT'
        ? resolve(undefined)
        : reject(new Error(`perf record: ${code ?? signal} ${stderr}`)),
    );
  });
  await new Promise((resolve) => setTimeout(resolve, 300)); // perf attaches
  const result = await during();
  perf.kill('SIGINT');
  await exited;
  return result;
}

/** Samples per symbol in one perf.data file: `dso\tsymbol` → samples. */
function samples(/** @type {string} */ file) {
  const text = execFileSync(
    'perf',
    [
      'report',
      '-i',
      file,
      '--stdio',
      '--no-children',
      '-n',
      '--sort',
      'dso,sym',
      '--percent-limit',
      '0',
      '-q',
    ],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  /** @type {Map<string, number>} */
  const counts = new Map();
  for (const line of text.split('\n')) {
    // "    12.34%          1234  node               [.] Builtins_JSONParse"
    const match = /^\s*[\d.]+%\s+(\d+)\s+(\S+(?: tid \d+)?)\s+\[(.)\]\s+(.*)$/.exec(line);
    if (!match) continue;
    const dso = /** @type {string} */ (match[2]).startsWith('[JIT]')
      ? '[JIT]'
      : /** @type {string} */ (match[2]);
    const key = `${dso}\t${match[4]?.trim()}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(match[1]));
  }
  return counts;
}

const totals = servers.map(() => ({ requests: 0, counts: /** @type {Map<string, number>} */ (new Map()) }));
// Warm-up: every server answers a second of load before anything is sampled.
for (const { server, headers } of servers) await load(server.info.url, server.pid, headers, 1);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? [0, 1] : [1, 0];
  for (const index of order) {
    const { server, headers } = /** @type {(typeof servers)[number]} */ (servers[index]);
    const file = join(scratch, `perf-${round}-${index}.data`);
    const requests = await recorded(server.pid, file, () =>
      load(server.info.url, server.pid, headers, seconds),
    );
    const total = /** @type {(typeof totals)[number]} */ (totals[index]);
    total.requests += requests;
    for (const [key, count] of samples(file)) total.counts.set(key, (total.counts.get(key) ?? 0) + count);
    rmSync(file, { force: true });
  }
  process.stderr.write(`round ${round + 1}/${rounds} done\n`);
}

const US_PER_SAMPLE = 1e6 / FREQUENCY;
const perRequest = totals.map(({ requests, counts }) => {
  /** @type {Map<string, number>} */
  const us = new Map();
  for (const [key, count] of counts) us.set(key, (count * US_PER_SAMPLE) / requests);
  return us;
});
const sum = (/** @type {Map<string, number>} */ map) => [...map.values()].reduce((a, b) => a + b, 0);

/** The area a symbol's time belongs to. */
function area(/** @type {string} */ key) {
  const [dso = '', symbol = ''] = key.split('\t');
  if (dso === '[kernel.kallsyms]') return 'kernel (socket, scheduler, syscalls)';
  if (/garbage|Scavenger|Heap::|MarkCompact|Sweeper|ConcurrentMarking/i.test(symbol))
    return 'V8 garbage collection';
  if (dso === '[JIT]') {
    if (/node:|internal\//.test(symbol)) return "JavaScript: Node's own (node:http, streams, timers)";
    if (/main\.bundle\.mjs|fastify-kinde|items-api/.test(symbol))
      return 'JavaScript: the app bundle (Fastify, fastify-kinde, pino, …)';
    if (/node_modules/.test(symbol)) return 'JavaScript: node_modules (Fastify, pino, …)';
    return 'JavaScript: other';
  }
  if (/^Builtins_/.test(symbol)) return 'V8 builtins (interpreter, ICs, JSON, strings)';
  if (/llhttp|http_parser|Parser/.test(symbol)) return "Node's HTTP parser (llhttp and its bindings)";
  if (dso === 'node') return 'Node/V8 C++ (runtime, bindings, libuv)';
  return `${dso}`;
}

const label = (/** @type {string} */ key) => {
  const [dso = '', symbol = ''] = key.split('\t');
  return `${symbol.replace(/^(LazyCompile|Function|JS):/, '').slice(0, 90)} (${dso === '[kernel.kallsyms]' ? 'kernel' : dso})`;
};

const [b = new Map(), a = new Map()] = perRequest;
// Each server's `process.nextTick` after its loads (servers/ready.mjs): about 30 ns, or about 300 in V8's slow state.
const tickNs = await Promise.all(servers.map(({ server }) => server.nextTickNs()));
console.log(
  `perf-diff: ${rounds} rounds × ${seconds} s per server, wrk -t1 -c50, cpu-clock at ${FREQUENCY} Hz, Node ${process.version}`,
);
servers.forEach(({ name }, i) => {
  const total = /** @type {(typeof totals)[number]} */ (totals[i]);
  console.log(
    `  ${name.padEnd(34)} ${sum(/** @type {Map<string, number>} */ (perRequest[i]))
      .toFixed(1)
      .padStart(6)} µs/req sampled, ${total.requests} requests, nextTick ${tickNs[i]} ns`,
  );
});
console.log(`  difference ${(sum(a) - sum(b)).toFixed(2)} µs/req\n`);

/** @type {Map<string, [number, number]>} */
const areas = new Map();
for (const [map, side] of /** @type {const} */ ([
  [b, 0],
  [a, 1],
])) {
  for (const [key, us] of map) {
    const entry = areas.get(area(key)) ?? [0, 0];
    entry[side] += us;
    areas.set(area(key), entry);
  }
}
console.log('by area                                                        base µs    app µs    diff');
for (const [name, [x, y]] of [...areas].sort((p, q) => q[1][1] - q[1][0] - (p[1][1] - p[1][0])))
  console.log(
    `  ${name.padEnd(60)} ${x.toFixed(2).padStart(7)} ${y.toFixed(2).padStart(9)} ${(y - x >= 0 ? '+' : '') + (y - x).toFixed(2)}`,
  );

const keys = new Set([...a.keys(), ...b.keys()]);
const diffs = [...keys].map((key) => ({ key, base: b.get(key) ?? 0, app: a.get(key) ?? 0 }));
diffs.sort((p, q) => Math.abs(q.app - q.base) - Math.abs(p.app - p.base));
console.log(`\nthe ${top} symbols with the largest differences (µs/req: base, app, diff)`);
for (const { key, base: x, app: y } of diffs.slice(0, top))
  console.log(
    `  ${x.toFixed(3).padStart(7)} ${y.toFixed(3).padStart(7)} ${(y - x >= 0 ? '+' : '') + (y - x).toFixed(3)}  ${label(key)}`,
  );
process.exit(0);
