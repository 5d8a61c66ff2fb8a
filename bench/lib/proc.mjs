// Child processes of the benchmark: spawned pinned to a core when `taskset` exists, tracked so that
// every one of them is killed when the runner ends, however it ends.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();

function hasTaskset() {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Cores: servers on the last, the load generator (and the emulator) on the first. */
export const pinning = hasTaskset() && cpus().length >= 2 ? { server: cpus().length - 1, load: 0 } : null;

const clockTicks = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Pins the calling process (all threads) to the load core, so it never competes with a server. */
export function pinSelf() {
  if (pinning === null) return;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(pinning.load), String(process.pid)], {
      stdio: 'ignore',
    });
  } catch {
    // Not fatal: the numbers are just noisier.
  }
}

/**
 * @typedef {object} Server
 * @property {number} pid
 * @property {Record<string, any>} info   what the server printed in its BENCH_READY line
 * @property {import('node:child_process').ChildProcess} child
 * @property {() => Promise<void>} stop   SIGTERM, then SIGKILL after 5 s
 * @property {() => Promise<number>} nextTickNs  what one `process.nextTick` costs in it now (servers/ready.mjs); NaN when it does not answer within 10 s
 */

/**
 * Starts `node <script>` and resolves when it prints `BENCH_READY {json}`.
 * `wrap`: a command that runs node (`valgrind …`, lib/callgrind.mjs); it keeps the process's pid.
 *
 * @param {string} script
 * @param {{ env?: Record<string, string>, core?: 'server' | 'load' | null, nodeArgs?: string[], timeoutMs?: number, wrap?: string[] }} [options]
 * @returns {Promise<Server>}
 */
export function startServer(script, options = {}) {
  const { env = {}, core = 'server', nodeArgs = [], timeoutMs = 30_000, wrap = [] } = options;
  const node = [...wrap, process.execPath, ...nodeArgs, script];
  const [command = process.execPath, ...args] =
    pinning && core ? ['taskset', '-c', String(pinning[core]), ...node] : node;
  const child = spawn(command, args, {
    env: { ...process.env, NODE_ENV: 'development', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    let buffered = '';
    let settled = false;
    const fail = (/** @type {string} */ why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${script}: ${why}\n${stderr.trim()}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
    child.on('exit', (code, signal) => {
      children.delete(child);
      fail(`exited (${signal ?? code}) before it was ready`);
    });
    child.on('error', (error) => fail(error.message));
    /** @type {((ns: number) => void)[]} */
    const tickWaiters = [];
    let lines = '';
    child.stdout.on('data', (chunk) => {
      if (settled) {
        // Keep draining, so a chatty server never blocks on a full pipe; answer `nextTickNs` asks.
        lines = (lines + chunk).slice(-10_000);
        let end = lines.indexOf('\n');
        while (end !== -1) {
          const line = lines.slice(0, end);
          lines = lines.slice(end + 1);
          if (line.startsWith('BENCH_TICK ')) tickWaiters.shift()?.(Number(line.slice('BENCH_TICK '.length)));
          end = lines.indexOf('\n');
        }
        return;
      }
      buffered += chunk;
      const line = buffered.split('\n').find((l) => l.startsWith('BENCH_READY '));
      if (line === undefined) {
        buffered = buffered.slice(-100_000);
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve({
        pid: /** @type {number} */ (child.pid),
        info: JSON.parse(line.slice('BENCH_READY '.length)),
        child,
        stop: () => stop(child),
        nextTickNs: () =>
          new Promise((answer) => {
            if (child.exitCode !== null || child.signalCode !== null) return answer(Number.NaN);
            const timer = setTimeout(() => {
              const at = tickWaiters.indexOf(done);
              if (at !== -1) tickWaiters.splice(at, 1);
              answer(Number.NaN);
            }, 10_000);
            const done = (/** @type {number} */ ns) => {
              clearTimeout(timer);
              answer(ns);
            };
            tickWaiters.push(done);
            child.kill('SIGUSR2');
          }),
      });
    });
  });
}

/**
 * @param {import('node:child_process').ChildProcess} child
 * @returns {Promise<void>}
 */
export function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Kills every child still running (synchronously: safe in an `exit` handler). */
export function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

/** Adopts a process spawned elsewhere, so `killAll` covers it. @param {import('node:child_process').ChildProcess} child */
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/**
 * User + system CPU time of a process so far, in microseconds (from /proc/<pid>/stat); with
 * `userOnly`, its user time alone (what lib/callgrind.mjs's instruction counts correspond to).
 */
export function cpuMicros(/** @type {number} */ pid, userOnly = false) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return ((Number(fields[11]) + (userOnly ? 0 : Number(fields[12]))) * 1e6) / clockTicks;
}

/** Resident set size of a process, in bytes (from /proc/<pid>/status). */
export function rssBytes(/** @type {number} */ pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}
