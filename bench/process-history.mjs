#!/usr/bin/env node
// What a process's history costs every later request of bare Fastify's `GET /` (logger `warn`): the
// same server alone, against the same server in a process that also did one thing `npm start`'s
// process does before its first protected request. Each history runs in fresh processes, paired
// with a fresh `alone` process in interleaved rounds (wrk -t1 -c50, 2 s, servers pinned to the server
// core); the median of the per-round differences in server CPU per request is reported.
//
//   node bench/process-history.mjs [--procs 3] [--rounds 4] [--only emulator,requests,outgoing]
//   node bench/process-history.mjs --instructions [--only ...]
//
// With --instructions, each process runs under valgrind's callgrind instead (lib/callgrind.mjs, as
// run.mjs counts its rows: the bench's young generation, warm-up until the count settles, then 7
// batches of 2,000 requests over 50 keep-alive connections) and the difference is in instructions
// per request: exact, and blind to the machine's noise, where the CPU figures move by microseconds
// from one run to the next. One process per side: the count of one process is repeatable.
//
// Histories:
//   emulator   a Kinde emulator runs in the same thread (as `npm start`'s embedded one), and the runner
//              sends it 60 requests (discovery, keys, refused token requests), as a sign-in would
//   requests   the server itself first answered 40 other requests: 404s with cookies, POSTs of JSON
//   outgoing   the process first made 60 requests to an identity provider in another process, as an
//              app's OpenID Connect client does (servers/fastify-history.mjs)
// bench/README.md, "Where each µs goes", has the findings.
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
import { killAll, pinSelf, startServer } from './lib/proc.mjs';
import { providerTraffic } from './lib/provider-traffic.mjs';
import { runWrk, wrkAvailable } from './lib/wrk.mjs';

const HISTORIES = ['emulator', 'requests', 'outgoing'];
const USAGE = `usage: node bench/process-history.mjs [--procs N (1-20)] [--rounds N (1-20)] [--instructions] [--only ${HISTORIES.join(',')}]`;
/** @type {Record<string, any>} */
let values;
try {
  ({ values } = parseArgs({
    options: {
      procs: { type: 'string', default: '3' },
      rounds: { type: 'string', default: '4' },
      only: { type: 'string', default: HISTORIES.join(',') },
      instructions: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  console.error(`${/** @type {Error} */ (error).message}\n${USAGE}`);
  process.exit(2);
}
const whole = (/** @type {string} */ text) =>
  /^[0-9]{1,2}$/.test(text) && Number(text) >= 1 && Number(text) <= 20 ? Number(text) : Number.NaN;
const procs = whole(values.procs);
const rounds = whole(values.rounds);
const only = values.only.split(',');
if (values.help || Number.isNaN(procs) || Number.isNaN(rounds) || only.some((h) => !HISTORIES.includes(h))) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}
const counting = values.instructions === true;
if (counting ? !callgrindAvailable() : !wrkAvailable()) {
  console.error(
    `process-history: ${counting ? 'valgrind is not installed (apt-get install -y valgrind)' : 'wrk is not installed'} (${USAGE})`,
  );
  process.exit(2);
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
pinSelf();

const here = (/** @type {string} */ path) => new URL(path, import.meta.url).pathname;
const server = here('servers/fastify-history.mjs');
const provider = await startServer(here('servers/emulator.mjs'), {
  env: { PORT: String(await freePort()) },
  core: 'load',
});

/** What the runner sends before the load, per history. @param {string} history @param {Record<string, any>} info */
async function before(history, info) {
  if (history === 'emulator') await providerTraffic(info.emulator);
  if (history !== 'requests') return;
  for (let i = 0; i < 20; i++) {
    await fetch(`${info.url}/missing/${i}?q=${i}`, { headers: { cookie: `a=${i}; b=2` } }).then((r) =>
      r.text(),
    );
    await fetch(`${info.url}/`, {
      method: 'POST',
      body: JSON.stringify({ i }),
      headers: { 'content-type': 'application/json' },
    }).then((r) => r.text());
  }
}

/** Server CPU µs per request of one 2 s wrk run (-t1 -c50, as the bench loads). @param {string} url @param {number} pid */
async function cpuPerRequest(url, pid) {
  const run = await runWrk({ url: `${url}/`, pid, seconds: 2 });
  if (!(run.ok > 0) || run.bad > 0)
    throw new Error(`wrk against ${url}: ${run.ok} answered, ${run.bad} failed`);
  return run.cpuPerReqUs;
}

const median = (/** @type {number[]} */ xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;

if (counting) {
  const dir = mkdtempSync(join(tmpdir(), 'process-history-'));
  const wrap = callgrindWrap(dir);
  /** Instructions per request of `GET /` in one fresh process under callgrind. @param {Record<string, string>} env @param {string | null} history */
  const count = async (env, history) => {
    const s = await startServer(server, {
      env: { PORT: String(await freePort()), ...env },
      nodeArgs: YOUNG_GENERATION,
      wrap,
      timeoutMs: 300_000,
    });
    const client = keepAliveClient(50);
    try {
      if (history !== null) await before(history, s.info);
      const { perRequest } = await countPerRequest({
        counter: instructionCounter(s.pid, dir),
        batch: 2_000,
        rounds: 7,
        send: (n) => client.send({ url: `${s.info.url}/`, count: n }),
      });
      return median(perRequest);
    } finally {
      client.close();
      await s.stop();
    }
  };
  const int = (/** @type {number} */ n) => Math.round(n).toLocaleString('en');
  console.log(
    `process-history: instructions per request under callgrind (median of 7 batches of 2,000), Node ${process.version}`,
  );
  console.log('history                                   alone       with it     difference');
  try {
    for (const history of only) {
      const alone = await count({}, null);
      const withIt = await count({ HISTORY: history, ISSUER: provider.info.issuerUrl }, history);
      const d = withIt - alone;
      console.log(
        `  ${history.padEnd(40)} ${int(alone).padStart(7)} ${int(withIt).padStart(13)}     ${d >= 0 ? '+' : ''}${int(d)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await provider.stop();
  }
  process.exit(0);
}

console.log(
  `process-history: ${procs} process pairs × ${rounds} rounds × 2 s per history, wrk -t1 -c50, Node ${process.version}`,
);
console.log(
  'history                                   alone µs/req   with it µs/req   difference (median of pairs)',
);
for (const history of only) {
  /** @type {number[]} */ const alone = [];
  /** @type {number[]} */ const withIt = [];
  for (let p = 0; p < procs; p++) {
    const a = await startServer(server, { env: { PORT: String(await freePort()) } });
    const b = await startServer(server, {
      env: { PORT: String(await freePort()), HISTORY: history, ISSUER: provider.info.issuerUrl },
    });
    await before(history, b.info);
    const pair = /** @type {const} */ ([
      [a, alone],
      [b, withIt],
    ]);
    // One unmeasured run each (warm-up), then the rounds, the order reversed every other round.
    for (let r = 0; r <= rounds; r++) {
      for (const [s, into] of r % 2 === 0 ? pair : [...pair].reverse()) {
        const us = await cpuPerRequest(s.info.url, s.pid);
        if (r > 0) into.push(us);
      }
    }
    await a.stop();
    await b.stop();
  }
  const differences = withIt.map((x, i) => x - /** @type {number} */ (alone[i]));
  const d = median(differences);
  console.log(
    `  ${history.padEnd(40)} ${median(alone).toFixed(1).padStart(12)} ${median(withIt).toFixed(1).padStart(16)}   ${d >= 0 ? '+' : ''}${d.toFixed(1)} µs (${differences.map((x) => x.toFixed(0)).join(' ')})`,
  );
}
await provider.stop();
process.exit(0);
