// wrk, when installed and asked for (`--wrk`): the issue's own tool (`wrk -t1 -c50`), written in C, so
// it leaves more of the load core to spare than autocannon. Rows with a token per request use it
// through a Lua script (lib/wrk-tokens.mjs). Same result shape as runLoad.
import { execFile, execFileSync } from 'node:child_process';
import { CONNECTIONS, machineCpu } from './load.mjs';
import { cpuMicros, pinning } from './proc.mjs';

/** True when `wrk` runs here. */
export function wrkAvailable() {
  try {
    execFileSync('wrk', ['-v'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk -v exits 1 after printing its version.
    return /** @type {{ status?: number }} */ (error).status === 1;
  }
}

/** wrk prints latencies as `812.00us`, `1.20ms` or `2.00s`. @param {string} text */
function milliseconds(text) {
  const match = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

/**
 * `script` (with `scriptArgs`) is a wrk Lua script; when it prints `wrk-tokens: <seconds> ...`,
 * requests/s are taken over those seconds instead of wrk's whole run (lib/wrk-tokens.lua).
 *
 * @param {{ url: string, pid: number, seconds: number, headers?: Record<string, string>, ownPids?: number[], script?: string, scriptArgs?: string[] }} options
 * @returns {Promise<import('./load.mjs').LoadResult>}
 */
export async function runWrk({ url, pid, seconds, headers = {}, ownPids = [], script, scriptArgs = [] }) {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '--timeout', '10s'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  if (script !== undefined) args.push('-s', script);
  args.push(url);
  if (script !== undefined) args.push('--', ...scriptArgs);
  const wrk = pinning ? ['taskset', '-c', String(pinning.load), 'wrk'] : ['wrk'];
  // The shell's `times` reports wrk's CPU time (its children's), which /proc cannot after wrk exits.
  const argv = ['-c', '"$@"; times', 'sh', ...wrk, ...args];
  const machineBefore = machineCpu();
  const selfBefore = process.cpuUsage();
  const ownBefore = ownPids.reduce((sum, p) => sum + cpuMicros(p), 0);
  const cpuBefore = cpuMicros(pid);
  const userBefore = cpuMicros(pid, true);
  const started = performance.now();
  const output = await new Promise((resolve, reject) => {
    execFile('sh', argv, { timeout: (seconds + 15) * 1000 }, (error, stdout) =>
      error ? reject(error) : resolve(stdout),
    );
  });
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuMicros(pid) - cpuBefore;
  const user = cpuMicros(pid, true) - userBefore;
  const self = process.cpuUsage(selfBefore);
  const own = ownPids.reduce((sum, p) => sum + cpuMicros(p), 0) - ownBefore;
  const machineAfter = machineCpu();
  const text = /** @type {string} */ (output);
  const times = [...text.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => (Number(m[1]) * 60 + Number(m[2])) * 1e6);
  const wrkCpu = (times[2] ?? 0) + (times[3] ?? 0);
  const foreign = machineAfter.busy - machineBefore.busy - cpu - wrkCpu - self.user - self.system - own;
  const total = Number(/(\d+) requests in ([\d.]+)(m?s)/.exec(text)?.[1] ?? 0);
  const duration = /(\d+) requests in ([\d.]+)(m?s)/.exec(text);
  const window = /^wrk-tokens: ([\d.]+)/m.exec(text);
  const wrkSeconds = window
    ? Number(window[1])
    : duration
      ? Number(duration[2]) / (duration[3] === 'ms' ? 1000 : 1)
      : elapsed;
  const bad =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0) +
    [...text.matchAll(/(connect|read|write|timeout) (\d+)/g)].reduce((sum, m) => sum + Number(m[2]), 0);
  const ok = Math.max(0, total - bad);
  const percentile = (/** @type {string} */ p) =>
    milliseconds(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(text)?.[1] ?? '');
  return {
    rps: ok / wrkSeconds,
    p50: percentile('50'),
    p99: percentile('99'),
    cpuPerReqUs: ok > 0 ? cpu / ok : Number.NaN,
    userPerReqUs: ok > 0 ? user / ok : Number.NaN,
    ok,
    bad,
    seconds: wrkSeconds,
    foreignPct: Math.max(0, (100 * foreign) / Math.max(1, machineAfter.total - machineBefore.total)),
  };
}
