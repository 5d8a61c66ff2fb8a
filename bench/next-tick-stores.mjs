#!/usr/bin/env node
// `process.nextTick`'s cost in the bench's own fastify-kinde server (servers/kinde.mjs: the unbundled
// items API) by session store, one fresh process per measurement, pinned to core 1 as the bench pins
// its servers: the figure each server prints when ready (servers/ready.mjs). Node flags after the
// stores go to every server, e.g. `--import=./keep-tick.mjs` or `--min-semi-space-size=8`.
//
// node bench/next-tick-stores.mjs [memory,sqlite,redis] [node flags…]   (N=6 processes per store;
// SHOW=text prints the servers' output lines containing it, e.g. with --trace-opt)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultDirectory, startEmulator } from 'kinde-emulator';
import { freePort } from 'test-kit';

const script = fileURLToPath(new URL('./servers/kinde.mjs', import.meta.url));
const stores = (process.argv[2] ?? 'memory,sqlite,redis').split(',');
const flags = process.argv.slice(3);
const processes = Number(process.env.N ?? 6);
let pinned = true;
try {
  execFileSync('taskset', ['-V'], { stdio: 'ignore' });
} catch {
  pinned = false;
}
const dir = mkdtempSync(join(tmpdir(), 'next-tick-stores-'));
const emulator = await startEmulator({ port: 0 });
const app = defaultDirectory().applications[0];

/** One server process: its `nextTick` figure (ns), or an error when it ends or stalls before it is ready. */
async function once(store) {
  const port = await freePort();
  const node = [process.execPath, ...flags, script];
  const [command, ...args] = pinned ? ['taskset', '-c', '1', ...node] : node;
  const child = spawn(command, args, {
    env: {
      ...process.env,
      PORT: String(port),
      ISSUER_URL: emulator.issuerUrl,
      CLIENT_ID: app.clientId,
      CLIENT_SECRET: app.clientSecret,
      STORE: store,
      SQLITE_PATH: join(dir, 'sessions.db'),
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_PREFIX: `next-tick-stores:${process.pid}:`,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${store}: not ready in 30 s`)), 30_000);
      child.on('exit', (code) =>
        reject(new Error(`${store}: the server ended (${code}) before it was ready`)),
      );
      child.stdout.on('data', (data) => {
        out += data;
        const ready = /BENCH_READY (.*)/.exec(out);
        if (ready) {
          clearTimeout(timer);
          resolve(JSON.parse(ready[1]).nextTickNs);
        }
      });
    });
  } finally {
    child.kill();
    const show = process.env.SHOW;
    if (show)
      console.log(
        out
          .split('\n')
          .filter((line) => line.includes(show))
          .join('\n'),
      );
  }
}

try {
  console.log(`process.nextTick, ns per call, ${processes} processes per store (Node ${process.version})`);
  for (const store of stores) {
    const figures = [];
    for (let i = 0; i < processes; i++) figures.push(await once(store));
    console.log(`${store.padEnd(8)} ${flags.join(' ')} ${figures.join(' ')}`);
  }
} finally {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
}
