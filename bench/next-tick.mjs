#!/usr/bin/env node
// What one `process.nextTick` call costs once a server has run a load, by what the process loaded.
// Node (22, 24) builds each tick as an object literal with computed keys; in optimized code V8 can
// settle on one of two costs for it, about 30 ns (the literal inlined) or about 300 ns (a runtime call
// per property, Runtime_DefineKeyedOwnPropertyInLiteral under `perf`), and the slow one lasts for the
// life of the process (bench/README.md, "`process.nextTick`'s slow state"). An HTTP request makes four
// such calls.
//
// Each case is a fresh server process per round, rounds interleaved, pinned as the bench pins its
// servers: loaded for 2 s on `GET /` (wrk when present, else autocannon; the `npm start` case unsigned
// in, so its `/` answers 401), then asked for the figure (servers/ready.mjs: the median of 20 drained
// batches of 1,000 calls).
//
// node bench/next-tick.mjs [--rounds 6] [--modules 200]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from 'test-kit';
import { median, runLoad } from './lib/load.mjs';
import { killAll, startServer } from './lib/proc.mjs';
import { runWrk, wrkAvailable } from './lib/wrk.mjs';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '6' }, modules: { type: 'string', default: '200' } },
});
const rounds = Number(values.rounds);
const modules = Number(values.modules);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(modules) || modules < 1) {
  console.error('usage: node bench/next-tick.mjs [--rounds N ≥ 1] [--modules N ≥ 1]');
  process.exit(2);
}

const load = wrkAvailable() ? runWrk : runLoad;
const dir = mkdtempSync(join(tmpdir(), 'next-tick-bench-'));
process.on('exit', () => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const url = (/** @type {string} */ path) => JSON.stringify(import.meta.resolve(path));
const server = `import Fastify from ${url('fastify')};
import { portFromEnv, ready } from ${url('./servers/ready.mjs')};
const app = Fastify({ logger: false });
app.get('/', () => ({ Hello: 'World' }));
const port = portFromEnv();
await app.listen({ port, host: '127.0.0.1' });
ready({ url: 'http://127.0.0.1:' + port });
`;
const graph = [];
for (let i = 0; i < modules; i++) {
  writeFileSync(join(dir, `m${i}.mjs`), `export const value${i} = ${i};\n`);
  graph.push(`import './m${i}.mjs';`);
}
const entry = (/** @type {string} */ name, /** @type {string} */ source) => {
  const file = join(dir, name);
  writeFileSync(file, source);
  return file;
};
const kinde = url('../packages/fastify-kinde/dist/src/index.js');
const itemsApp = url('../examples/items-api/dist/src/app.js');

/** @type {{ name: string, script: string, env?: () => Promise<Record<string, string>>, ns: number[] }[]} */
const cases = [
  { name: 'bare Fastify', script: entry('bare.mjs', server), ns: [] },
  {
    name: `bare Fastify + ${modules} two-line modules`,
    script: entry('graph.mjs', `${graph.join('\n')}\n${server}`),
    ns: [],
  },
  {
    name: 'bare Fastify + fastify-kinde imported',
    script: entry('kinde.mjs', `import * as kinde from ${kinde};\nglobalThis.kinde = kinde;\n${server}`),
    ns: [],
  },
  {
    name: 'bare Fastify + the items API unbundled',
    script: entry('items.mjs', `import * as items from ${itemsApp};\nglobalThis.items = items;\n${server}`),
    ns: [],
  },
  {
    name: '`npm start` (the bundle, its emulator, SQLite)',
    script: fileURLToPath(new URL('./servers/items-app.mjs', import.meta.url)),
    env: async () => ({ EMULATOR_PORT: String(await freePort()), APP_DIR: mkdtempSync(join(dir, 'app-')) }),
    ns: [],
  },
];

for (let round = 0; round < rounds; round++) {
  for (const c of cases) {
    const started = await startServer(c.script, {
      env: { PORT: String(await freePort()), ...(c.env ? await c.env() : {}) },
    });
    try {
      await load({ url: `${started.info.url}/`, pid: started.pid, seconds: 2 });
      c.ns.push(await started.nextTickNs());
    } finally {
      await started.stop();
    }
  }
}

const base = median(cases[0]?.ns ?? []);
console.log(
  `process.nextTick after 2 s of load, ns per call: median of ${rounds} processes per case (Node ${process.version})`,
);
for (const c of cases) {
  const ns = median(c.ns);
  const fast = c.ns.filter((v) => v < 100).length;
  console.log(
    `${c.name.padEnd(48)} ${ns.toFixed(0).padStart(5)} ns ${(ns / base).toFixed(2).padStart(6)}×  under 100 ns in ${fast} of ${c.ns.length}: ${c.ns.map((v) => v.toFixed(0)).join(' ')}`,
  );
}
