// Start-up of the compiled example app: spawn → first answered request, and that request's latency,
// as the tutorial's table has it. `npm start`'s own entry point, with its embedded emulator.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from 'test-kit';
import { median } from './load.mjs';
import { pinning, stop, track } from './proc.mjs';

/**
 * What `npm start` runs (an esbuild bundle of the compiled app, when built), tsc's own output, and
 * bare Fastify with the same logger (the baseline of issue 15's start-up target), which answers 200.
 */
const ENTRIES = [
  {
    name: '`npm start`: dist/main.bundle.mjs',
    path: new URL('../../examples/items-api/dist/main.bundle.mjs', import.meta.url).pathname,
    status: 401,
    baseline: false,
  },
  {
    name: 'tsc output: dist/src/main.js',
    path: new URL('../../examples/items-api/dist/src/main.js', import.meta.url).pathname,
    status: 401,
    baseline: false,
  },
  {
    name: 'bare Fastify, logger `warn`: bench/servers/fastify.mjs',
    path: new URL('../servers/fastify.mjs', import.meta.url).pathname,
    status: 200,
    baseline: true,
    env: { LOGGER: 'warn' },
  },
];

/**
 * One GET on a fresh connection; resolves with the status and the latency in ms.
 *
 * @param {number} port
 * @returns {Promise<{ status: number, ms: number }>}
 */
function get(port) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (response) => {
      response.resume();
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, ms: performance.now() - started }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * @typedef {{ entry: string, baseline: boolean, runs: number, firstAnswerMs: number, firstRequestMs: number, secondRequestMs: number, samples: object[] }} Startup
 */

/**
 * Measures each entry point that exists, runs interleaved; the first is what `npm start` runs.
 *
 * @param {number} runs
 * @returns {Promise<Startup[]>}
 */
export async function measureStartup(runs) {
  // An empty working directory: main.js reads `.env` from it, and must not find a real Kinde there.
  const cwd = mkdtempSync(join(tmpdir(), 'fastify-kinde-startup-'));
  const entries = ENTRIES.filter((e) => existsSync(e.path));
  /** @type {object[][]} */
  const samples = entries.map(() => []);
  try {
    for (let i = 0; i < runs; i++) {
      for (const [j, entry] of entries.entries()) samples[j]?.push(await once(cwd, entry));
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
  return entries.map((entry, j) => {
    const own = /** @type {{ firstAnswerMs: number, firstRequestMs: number, secondRequestMs: number }[]} */ (
      samples[j]
    );
    return {
      entry: entry.name,
      baseline: entry.baseline,
      runs,
      firstAnswerMs: median(own.map((s) => s.firstAnswerMs)),
      firstRequestMs: median(own.map((s) => s.firstRequestMs)),
      secondRequestMs: median(own.map((s) => s.secondRequestMs)),
      samples: own,
    };
  });
}

/** @param {string} cwd @param {typeof ENTRIES[number]} entry */
async function once(cwd, entry) {
  const main = entry.path;
  const port = await freePort();
  const emulatorPort = await freePort();
  const env = {
    ...process.env,
    PORT: String(port),
    EMULATOR_PORT: String(emulatorPort),
    NODE_ENV: 'development',
    ...(entry.env ?? {}),
  };
  delete env.KINDE_ISSUER_URL;
  const command = pinning ? 'taskset' : process.execPath;
  const args = pinning ? ['-c', String(pinning.server), process.execPath, main] : [main];
  const started = performance.now();
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  track(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  try {
    const deadline = started + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the example app exited: ${stderr.trim()}`);
      if (performance.now() > deadline) throw new Error('the example app did not answer within 20 s');
      try {
        const first = await get(port);
        const firstAnswerMs = performance.now() - started;
        const second = await get(port);
        if (first.status !== entry.status)
          throw new Error(
            `${entry.name}: expected ${entry.status} on / without a session, got ${first.status}`,
          );
        return { firstAnswerMs, firstRequestMs: first.ms, secondRequestMs: second.ms };
      } catch (error) {
        if (/** @type {NodeJS.ErrnoException} */ (error).code !== 'ECONNREFUSED') throw error;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
  } finally {
    await stop(child);
  }
}
