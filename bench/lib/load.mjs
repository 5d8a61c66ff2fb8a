// One bounded load run with autocannon, measured from the outside: requests/s, latency percentiles
// (from every response, at sub-millisecond resolution) and the server's CPU time per request.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { cpuMicros } from './proc.mjs';

export const CONNECTIONS = 50;

/**
 * @typedef {object} LoadResult
 * @property {number} rps          2xx responses per second
 * @property {number} p50          ms
 * @property {number} p99          ms
 * @property {number} cpuPerReqUs  server CPU (user + system) per 2xx response, µs
 * @property {number} userPerReqUs its user-space part
 * @property {number} ok           2xx responses
 * @property {number} bad          non-2xx responses, errors and timeouts
 * @property {number} seconds      measured wall time
 * @property {number} foreignPct   share of all cores used by processes other than the bench's own
 */

/** Busy and total time of all cores so far, in µs (from /proc/stat). */
export function machineCpu() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  // USER_HZ is 100 on Linux: one tick is 10 ms.
  return { busy: (total - idle) * 1e4, total: total * 1e4 };
}

/**
 * On a shared machine other work (a build, a test run) steals cycles from both the server and the
 * load generator. Waits, up to `maxMs`, until the cores are quiet (under 10% busy while the bench
 * itself is idle); returns the milliseconds waited.
 *
 * @param {number} maxMs
 */
export async function waitForQuiet(maxMs) {
  const started = performance.now();
  for (;;) {
    const before = machineCpu();
    await new Promise((resolve) => setTimeout(resolve, 250));
    const after = machineCpu();
    const busy = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    const waited = performance.now() - started;
    if (busy < 0.1 || waited >= maxMs) return waited;
  }
}

/**
 * @param {number[]} sorted
 * @param {number} q
 */
function quantile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Loads `url` for `seconds` (or until `tokens` run out) with CONNECTIONS connections.
 *
 * @param {object} options
 * @param {string} options.url
 * @param {number} options.pid                       the server process, for its CPU time
 * @param {number} options.seconds
 * @param {Record<string, string>} [options.headers]
 * @param {string[]} [options.tokens]                one bearer token per request, each used once
 * @param {number[]} [options.ownPids]               other bench processes (the emulator), not foreign
 * @returns {Promise<LoadResult>}
 */
export async function runLoad({ url, pid, seconds, headers = {}, tokens, ownPids = [] }) {
  /** @type {number[]} */
  const latencies = [];
  /** @type {Record<string, unknown>} */
  const options = { url, connections: CONNECTIONS, pipelining: 1, duration: seconds, headers, timeout: 10 };
  if (tokens) {
    let next = 0;
    options.amount = tokens.length;
    options.requests = [
      {
        setupRequest: (/** @type {{ headers: Record<string, string> }} */ request) => {
          request.headers = { ...headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` };
          return request;
        },
      },
    ];
  }
  const ownCpu = () => ownPids.reduce((sum, p) => sum + cpuMicros(p), 0);
  const machineBefore = machineCpu();
  const selfBefore = process.cpuUsage();
  const ownBefore = ownCpu();
  const cpuBefore = cpuMicros(pid);
  const userBefore = cpuMicros(pid, true);
  const started = performance.now();
  const instance = autocannon(options);
  instance.on('response', (_client, status, _bytes, responseTime) => {
    if (status >= 200 && status < 300) latencies.push(responseTime);
  });
  // `amount` overrides autocannon's own duration: keep every run bounded in time regardless.
  const guard = setTimeout(() => instance.stop(), (seconds + 2) * 1000);
  /** @type {any} */
  const result = await new Promise((resolve, reject) => {
    instance.on('done', resolve);
    instance.on('error', reject);
  }).finally(() => clearTimeout(guard));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuMicros(pid) - cpuBefore;
  const user = cpuMicros(pid, true) - userBefore;
  const self = process.cpuUsage(selfBefore);
  const machineAfter = machineCpu();
  const foreign =
    machineAfter.busy - machineBefore.busy - cpu - self.user - self.system - (ownCpu() - ownBefore);
  latencies.sort((a, b) => a - b);
  const ok = result['2xx'];
  return {
    rps: ok / elapsed,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuPerReqUs: ok > 0 ? cpu / ok : Number.NaN,
    userPerReqUs: ok > 0 ? user / ok : Number.NaN,
    ok,
    bad: result.non2xx + result.errors + result.timeouts,
    seconds: elapsed,
    foreignPct: Math.max(0, (100 * foreign) / Math.max(1, machineAfter.total - machineBefore.total)),
  };
}

/** The median of the finite values. @param {number[]} values */
export function median(values) {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
