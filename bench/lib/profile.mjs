// Where the time goes: the top self-time functions of a V8 CPU profile (`node --cpu-prof`).
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The package a frame belongs to: a workspace, a dependency, Node's own code, or V8. @param {string} where */
function packageOf(where) {
  if (where === '(native)') return '(native: syscalls, GC, V8)';
  if (where.startsWith('node:')) return 'node core';
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where);
  if (dep) return dep[1] ?? where;
  const workspace = /^(packages|examples|tools)\/([^/]+)/.exec(where);
  return workspace ? (workspace[2] ?? where) : where.split('/').slice(0, 2).join('/');
}

/**
 * Self time grouped by package, busiest first.
 *
 * @param {{ selfPct: number, where: string }[]} functions  every function (topSelfTime with top = Infinity)
 */
export function byPackage(functions) {
  /** @type {Map<string, number>} */
  const totals = new Map();
  for (const f of functions) {
    const name = packageOf(f.where);
    totals.set(name, (totals.get(name) ?? 0) + f.selfPct);
  }
  return [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([name, selfPct]) => ({ name, selfPct }));
}

/**
 * Who calls a function (by name), weighted by its self time under each caller chain (up to three
 * frames), busiest first: `BENCH_PROFILE_CALLERS=nextTick` prints it for every server.
 *
 * @param {string} dir
 * @param {string} name
 * @returns {{ selfPct: number, chain: string }[]}
 */
export function callersOf(dir, name) {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) return [];
  /** @type {{ nodes: { id: number, children?: number[], callFrame: { functionName: string, url: string, lineNumber: number } }[], samples: number[], timeDeltas: number[] }} */
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<number, number>} */
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (/** @type {number | undefined} */ id) => {
    const f = id === undefined ? undefined : byId.get(id)?.callFrame;
    if (f === undefined) return '';
    const where = f.url ? `${relative(ROOT, f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'} ${where}`.trim();
  };
  /** @type {Map<string, number>} */
  const totals = new Map();
  let all = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    if (byId.get(id)?.callFrame.functionName !== '(idle)') all += us;
    if (byId.get(id)?.callFrame.functionName !== name) return;
    const chain = [];
    for (let p = parent.get(id), k = 0; p !== undefined && k < 3; p = parent.get(p), k++)
      chain.push(label(p));
    const key = chain.join(' < ');
    totals.set(key, (totals.get(key) ?? 0) + us);
  });
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([chain, us]) => ({ selfPct: (100 * us) / all, chain }));
}

/**
 * @param {string} dir  where `--cpu-prof-dir` wrote the profile
 * @param {number} [top]
 * @returns {{ selfPct: number, selfMs: number, fn: string, where: string }[]}
 */
export function topSelfTime(dir, top = 15) {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) return [];
  /** @type {{ nodes: { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }[], samples: number[], timeDeltas: number[] }} */
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  /** @type {Map<string, { fn: string, where: string, us: number }>} */
  const totals = new Map();
  let all = 0;
  // Start-up (module loading, schema compilation) is not per-request work: samples count from the
  // first one taken while Node's HTTP server code ran, that is from the first request on.
  const first = profile.samples.findIndex((id) => frames.get(id)?.url === 'node:_http_server');
  profile.samples.forEach((id, i) => {
    if (i < first) return;
    const frame = frames.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    // Idle time is not work: percentages are of the time the process was busy.
    if (frame === undefined || frame.functionName === '(idle)') return;
    const where = frame.url
      ? `${relative(ROOT, frame.url.replace(/^file:\/\//, ''))}:${frame.lineNumber + 1}`
      : '(native)';
    const fn = frame.functionName || '(anonymous)';
    const key = `${fn} ${where}`;
    const entry = totals.get(key) ?? { fn, where, us: 0 };
    entry.us += us;
    totals.set(key, entry);
    all += us;
  });
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ selfPct: (100 * e.us) / all, selfMs: e.us / 1000, fn: e.fn, where: e.where }));
}
