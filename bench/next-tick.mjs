#!/usr/bin/env node
// What one `process.nextTick` call costs, by what the process loaded. Node (22, 24) builds each tick
// as an object literal with computed keys; V8 settles during start-up on one of two costs for it,
// about 30 ns (the literal inlined) or about 400 ns (five runtime calls per tick, seen in `perf` as
// Runtime_DefineKeyedOwnPropertyInLiteral under the optimized nextTick). Which one a process gets
// varies from process to process, and a large static ES module graph makes the slow one likely. An
// HTTP request makes four such calls, so two processes of the same server can differ by 1.5 µs per
// request for this alone; bench/run.mjs prints the figure per row for that reason.
//
// Each case is a fresh process per round, rounds interleaved. A preloaded probe waits for start-up to
// finish (1.5 s), measures as the bench's servers do (`nextTickNs` in servers/ready.mjs: the median of
// 20 drained batches of 1,000 calls), prints it and ends the process.
//
// node bench/next-tick.mjs [--rounds 10] [--modules 200]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort } from 'test-kit';
import { median } from './lib/load.mjs';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '10' }, modules: { type: 'string', default: '200' } },
});
const rounds = Number(values.rounds);
const modules = Number(values.modules);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(modules) || modules < 1) {
  console.error('usage: node bench/next-tick.mjs [--rounds N ≥ 1] [--modules N ≥ 1]');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'next-tick-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const probe = join(dir, 'probe.mjs');
const readyUrl = JSON.stringify(import.meta.resolve('./servers/ready.mjs'));
writeFileSync(
  probe,
  `import { nextTickNs } from ${readyUrl};
setTimeout(async () => {
  const ns = await nextTickNs();
  process.stdout.write('NEXT_TICK_NS ' + ns + '\\n', () => process.exit(0));
}, 1500);
`,
);

const fastify = JSON.stringify(import.meta.resolve('fastify'));
const server = `import Fastify from ${fastify};
const app = Fastify({ logger: false });
app.get('/', () => ({ Hello: 'World' }));
await app.listen({ port: 0, host: '127.0.0.1' });
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
const kinde = JSON.stringify(import.meta.resolve('../packages/fastify-kinde/dist/src/index.js'));
const itemsApp = JSON.stringify(import.meta.resolve('../examples/items-api/dist/src/app.js'));
const bundle = fileURLToPath(new URL('../examples/items-api/dist/main.bundle.mjs', import.meta.url));

/** @type {{ name: string, args: string[], env?: () => Promise<Record<string, string>>, cwd?: string, ns: number[] }[]} */
const cases = [
  { name: 'bare Fastify', args: [entry('bare.mjs', server)], ns: [] },
  {
    name: `bare Fastify + ${modules} two-line modules`,
    args: [entry('graph.mjs', `${graph.join('\n')}\n${server}`)],
    ns: [],
  },
  {
    name: 'bare Fastify + fastify-kinde imported',
    args: [entry('kinde.mjs', `import * as kinde from ${kinde};\nglobalThis.kinde = kinde;\n${server}`)],
    ns: [],
  },
  {
    name: 'bare Fastify + the items API unbundled',
    args: [entry('items.mjs', `import * as items from ${itemsApp};\nglobalThis.items = items;\n${server}`)],
    ns: [],
  },
  {
    name: '`npm start` (the bundle, its emulator, SQLite)',
    args: [bundle],
    env: async () => ({ PORT: String(await freePort()), EMULATOR_PORT: String(await freePort()) }),
    ns: [],
  },
];
const appDir = join(dir, 'app');
mkdirSync(appDir);

for (let round = 0; round < rounds; round++) {
  for (const c of cases) {
    const { KINDE_ISSUER_URL: _, ISSUER_URL: __, CLIENT_ID: ___, CLIENT_SECRET: ____, ...env } = process.env;
    const out = execFileSync(process.execPath, ['--import', probe, ...c.args], {
      encoding: 'utf8',
      timeout: 30_000,
      cwd: appDir,
      env: { ...env, ...(c.env ? await c.env() : {}) },
    });
    const line = out.split('\n').find((l) => l.startsWith('NEXT_TICK_NS '));
    if (line === undefined) throw new Error(`${c.name}: no measurement in its output:\n${out}`);
    c.ns.push(Number(line.slice('NEXT_TICK_NS '.length)));
  }
}

const base = median(cases[0]?.ns ?? []);
console.log(
  `process.nextTick, ns per call: median of ${rounds} processes per case (Node ${process.version})`,
);
for (const c of cases) {
  const ns = median(c.ns);
  const fast = c.ns.filter((v) => v < 100).length;
  console.log(
    `${c.name.padEnd(48)} ${ns.toFixed(0).padStart(5)} ns ${(ns / base).toFixed(2).padStart(6)}×  under 100 ns in ${fast} of ${c.ns.length}: ${c.ns.map((v) => v.toFixed(0)).join(' ')}`,
  );
}
