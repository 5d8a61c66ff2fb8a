#!/usr/bin/env node
// Where a row's extra instructions go, symbol by symbol: compares two profiles kept by
// `run.mjs --instruction-profiles DIR` (each counted row's median measured batch under callgrind, with
// the cost of every instruction address, and V8's perf map of the process naming its compiled code).
//
//   node bench/run.mjs --only app-sqlite --skip-startup --skip-growth --rounds 1 --instruction-profiles /tmp/p
//   node bench/instruction-diff.mjs /tmp/p/fastify-warn /tmp/p/app-sqlite [--top 40] [--callers SYMBOL]
//
// Each argument is a profile's path without its extension (`<id>.callgrind`, `<id>.map`, `<id>.json`).
// Prints each profile's instructions per request, the difference by area (V8 builtins, Node's and V8's
// C++, OpenSSL, JavaScript by origin, libc, …) and the symbols with the largest differences. Self cost
// only: an instruction counts for the function it is in. JIT code is named from the perf map as V8 wrote
// it while the process ran (code that V8 moved or dropped since keeps its last name). With `--callers`,
// also who called the functions whose name contains SYMBOL, and how often, per request: a megamorphic
// inline cache or a runtime call, for instance, traced to the JavaScript that makes it.
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { signed, thousands } from './lib/report.mjs';

const USAGE =
  'usage: node bench/instruction-diff.mjs BASE ROW [--top N (1-500)] [--callers SYMBOL]\n' +
  '  BASE, ROW: profiles kept by run.mjs --instruction-profiles DIR, as DIR/<row id>';

/** @type {{ values: Record<string, any>, positionals: string[] }} */
let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '30' },
      callers: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
} catch (error) {
  console.error(`${/** @type {Error} */ (error).message}\n${USAGE}`);
  process.exit(2);
}
const { values, positionals } = parsed;
const top = /^[0-9]{1,3}$/.test(values.top) ? Number(values.top) : Number.NaN;
if (values.help || positionals.length !== 2 || !(top >= 1 && top <= 500)) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}

/**
 * V8's perf map (`<start> <size> <name>` in hex, one line per code object, in the order V8 made them)
 * as a lookup from an address to the name of the newest code object that covered it.
 *
 * @param {string} file
 */
function perfMap(file) {
  /** @type {Map<number, { end: number, name: string }>} */
  const byStart = new Map();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/i.exec(line);
    if (!match) continue;
    const start = Number.parseInt(/** @type {string} */ (match[1]), 16);
    byStart.set(start, {
      end: start + Number.parseInt(/** @type {string} */ (match[2]), 16),
      name: /** @type {string} */ (match[3]),
    });
  }
  const starts = [...byStart.keys()].sort((a, b) => a - b);
  return (/** @type {number} */ address) => {
    let low = 0;
    let high = starts.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (/** @type {number} */ (starts[middle]) <= address) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    if (found < 0) return undefined;
    const entry = /** @type {{ end: number, name: string }} */ (
      byStart.get(/** @type {number} */ (starts[found]))
    );
    return address < entry.end ? entry.name : undefined;
  };
}

/** A symbol callgrind could not name is shown as its address (`0x000000000abc1234`). */
const UNNAMED = /^0x[0-9a-f]+$/i;

/**
 * One profile: self instructions per request by `area\tsymbol`, and, when `callersOf` is given, the
 * calls per request into functions whose name contains it, by caller.
 *
 * @param {string} path
 * @param {string | undefined} callersOf
 */
function load(path, callersOf) {
  const { batch } = JSON.parse(readFileSync(`${path}.json`, 'utf8'));
  const name = perfMap(`${path}.map`);
  /** @type {Map<string, number>} */
  const self = new Map();
  /** @type {Map<string, { calls: number, inclusive: number }>} */
  const callers = new Map();
  let ob = '';
  let fn = '';
  let cfn = '';
  let lastAddress = 0;
  /** Set by a `calls=` line: the next cost line is that call's inclusive cost, not self cost. */
  let callCount = -1;
  /** The current function's `area\tsymbol` when callgrind named it, else '' (then the perf map names it). */
  let named = '';
  const symbolAt = (/** @type {number} */ address) => {
    if (named !== '') return named;
    const jit = name(address);
    return jit === undefined ? `unnamed (${base(ob)})\t${fn}` : `${jitArea(jit)}\t${jit}`;
  };
  for (const line of readFileSync(`${path}.callgrind`, 'utf8').split('\n')) {
    const first = line.charCodeAt(0);
    // A cost line: "<address> <Ir>", the address absolute ("0x…"), relative ("+n", "-n") or the same ("*").
    if (first === 48 /* 0 */ || first === 43 /* + */ || first === 45 /* - */ || first === 42 /* * */) {
      const space = line.indexOf(' ');
      const position = line.slice(0, space);
      const cost = Number(line.slice(space + 1).split(' ')[0]);
      if (position.startsWith('0x')) lastAddress = Number.parseInt(position, 16);
      else if (position !== '*') lastAddress += Number(position);
      const symbol = symbolAt(lastAddress);
      if (callCount >= 0) {
        if (callersOf !== undefined && cfn.includes(callersOf)) {
          const key = `${symbol.split('\t')[1]}  →  ${cfn}`;
          const entry = callers.get(key) ?? { calls: 0, inclusive: 0 };
          entry.calls += callCount;
          entry.inclusive += cost;
          callers.set(key, entry);
        }
        callCount = -1;
        continue;
      }
      self.set(symbol, (self.get(symbol) ?? 0) + cost);
    } else if (line.startsWith('fn=')) {
      fn = line.slice(3);
      named = UNNAMED.test(fn) ? '' : `${area(ob, fn)}\t${fn}`;
    } else if (line.startsWith('ob=')) {
      ob = line.slice(3);
    } else if (line.startsWith('cfn=')) {
      cfn = line.slice(4);
    } else if (line.startsWith('calls=')) {
      callCount = Number(line.slice(6).split(' ')[0]);
    }
  }
  for (const [key, cost] of self) self.set(key, cost / batch);
  for (const entry of callers.values()) {
    entry.calls /= batch;
    entry.inclusive /= batch;
  }
  return { self, callers };
}

const base = (/** @type {string} */ ob) => ob.slice(ob.lastIndexOf('/') + 1) || ob;

/** The area of a symbol callgrind named (a shared object's symbol table). */
function area(/** @type {string} */ ob, /** @type {string} */ fn) {
  const object = base(ob);
  if (object !== 'node') return object;
  if (fn.startsWith('Builtins_')) return 'V8 builtins (interpreter, ICs, JSON, strings)';
  if (/^v8::internal::.*(Heap|Scaveng|MarkCompact|Marking|Sweep|Evacuat|ObjectCache|RootVisitor)/.test(fn))
    return 'V8 garbage collection';
  if (/^(llhttp|node::http_parser)/.test(fn)) return "Node's HTTP parser";
  if (/^uv_|^uv__/.test(fn)) return 'libuv';
  if (/^sqlite3/.test(fn)) return 'SQLite (node:sqlite)';
  if (fn.includes('::') || /^(simdutf|napi_)/.test(fn)) return "Node's and V8's C++";
  // Node links OpenSSL statically: its C functions are the node binary's other unqualified names
  // (`bn_sqr8x_internal`, `EVP_DigestVerify`, `ossl_ht_get`, `sha256_block_data_order_avx2`, …).
  return 'OpenSSL (and the other C libraries Node links)';
}

/** The area of JIT code, from its perf-map name: V8's own stubs, or JavaScript by origin. */
function jitArea(/** @type {string} */ name) {
  if (/ node:/.test(name)) return "JavaScript: Node's own (node:http, streams, timers)";
  if (/node_modules/.test(name)) return 'JavaScript: node_modules';
  if (/ (file:\/\/)?\//.test(name)) return 'JavaScript: the app (its bundle or its own files)';
  return 'JIT: other (V8 stubs, regular expressions)';
}

const [basePath, rowPath] = /** @type {[string, string]} */ (positionals);
for (const path of [basePath, rowPath]) {
  for (const ext of ['json', 'map', 'callgrind']) {
    if (!existsSync(`${path}.${ext}`)) {
      console.error(
        `instruction-diff: ${path}.${ext} does not exist (run.mjs --instruction-profiles DIR keeps DIR/<row id>.{callgrind,map,json})\n${USAGE}`,
      );
      process.exit(2);
    }
  }
}
const a = load(basePath, values.callers);
const b = load(rowPath, values.callers);
const total = (/** @type {Map<string, number>} */ m) => [...m.values()].reduce((x, y) => x + y, 0);
console.log(`instructions per request (self cost, the median measured batch of each)`);
console.log(`  ${basePath.padEnd(50)} ${thousands(total(a.self)).padStart(10)}`);
console.log(`  ${rowPath.padEnd(50)} ${thousands(total(b.self)).padStart(10)}`);
console.log(`  difference ${signed(total(b.self) - total(a.self), 0).padStart(49)}`);

/** @type {Map<string, [number, number]>} */
const areas = new Map();
for (const [which, profile] of /** @type {const} */ ([
  [0, a],
  [1, b],
])) {
  for (const [key, cost] of profile.self) {
    const where = /** @type {string} */ (key.split('\t')[0]);
    const pair = areas.get(where) ?? [0, 0];
    pair[which] += cost;
    areas.set(where, pair);
  }
}
console.log(`\nby area${' '.repeat(52)}base        row       diff`);
for (const [where, [x, y]] of [...areas].sort((p, q) => q[1][1] - q[1][0] - (p[1][1] - p[1][0])))
  console.log(
    `  ${where.slice(0, 55).padEnd(55)} ${thousands(x).padStart(9)} ${thousands(y).padStart(10)} ${signed(y - x, 0).padStart(10)}`,
  );

const symbols = new Set([...a.self.keys(), ...b.self.keys()]);
const diffs = [...symbols]
  .map((key) => ({ key, x: a.self.get(key) ?? 0, y: b.self.get(key) ?? 0 }))
  .sort((p, q) => Math.abs(q.y - q.x) - Math.abs(p.y - p.x))
  .slice(0, top);
console.log(`\nthe ${top} symbols with the largest differences (instructions per request: base, row, diff)`);
for (const { key, x, y } of diffs)
  console.log(
    `  ${thousands(x).padStart(8)} ${thousands(y).padStart(8)} ${signed(y - x, 0).padStart(8)}  ${key.split('\t')[1]?.slice(0, 150)}`,
  );

if (values.callers !== undefined) {
  for (const [label, profile] of /** @type {const} */ ([
    ['base', a],
    ['row', b],
  ])) {
    console.log(
      `\n${label}: calls into *${values.callers}*, per request (calls, inclusive instructions), by caller`,
    );
    const list = [...profile.callers].sort((p, q) => q[1].inclusive - p[1].inclusive).slice(0, top);
    if (list.length === 0) console.log('  none');
    for (const [key, { calls, inclusive }] of list)
      console.log(
        `  ${calls.toFixed(2).padStart(7)} ${thousands(inclusive).padStart(8)}  ${key.slice(0, 170)}`,
      );
  }
}
