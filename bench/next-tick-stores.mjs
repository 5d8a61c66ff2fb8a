#!/usr/bin/env node
// `process.nextTick`'s cost in the bench's own fastify-kinde server (servers/kinde.mjs: the unbundled
// items API) by session store, one fresh process per measurement, pinned as the bench pins its
// servers: each process is signed in to, loaded for 2 s on its protected `/` (wrk when present, else
// autocannon), and then asked for the figure (servers/ready.mjs), so that it is the state the load
// ran with. Node flags after the stores go to every server, e.g. `--import=./keep-tick.mjs`.
//
// node bench/next-tick-stores.mjs [memory,sqlite,redis] [node flags…]   (N=6 processes per store)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultDirectory, startEmulator } from 'kinde-emulator';
import { freePort } from 'test-kit';
import { runLoad } from './lib/load.mjs';
import { sessionCookie } from './lib/login.mjs';
import { killAll, startServer } from './lib/proc.mjs';
import { runWrk, wrkAvailable } from './lib/wrk.mjs';

const script = fileURLToPath(new URL('./servers/kinde.mjs', import.meta.url));
const stores = (process.argv[2] ?? 'memory,sqlite,redis').split(',');
const flags = process.argv.slice(3);
const processes = Number(process.env.N ?? 6);
const load = wrkAvailable() ? runWrk : runLoad;
const dir = mkdtempSync(join(tmpdir(), 'next-tick-stores-'));
const emulator = await startEmulator({ port: 0 });
const app = defaultDirectory().applications[0];
process.on('exit', killAll);

/** One server process: its `nextTick` figure (ns) after the load, and its CPU per request (µs). */
async function once(/** @type {string} */ store) {
  const server = await startServer(script, {
    nodeArgs: flags,
    env: {
      PORT: String(await freePort()),
      ISSUER_URL: emulator.issuerUrl,
      CLIENT_ID: app?.clientId ?? '',
      CLIENT_SECRET: app?.clientSecret ?? '',
      STORE: store,
      SQLITE_PATH: join(dir, `sessions-${Date.now()}.db`),
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_PREFIX: `next-tick-stores:${process.pid}:`,
    },
  });
  try {
    const url = /** @type {string} */ (server.info.url);
    const cookie = await sessionCookie(url, /kinde_session$/);
    const result = await load({ url: `${url}/`, pid: server.pid, seconds: 2, headers: { cookie } });
    if (result.bad > 0) throw new Error(`${store}: ${result.bad} requests failed`);
    return { ns: await server.nextTickNs(), cpu: result.cpuPerReqUs };
  } finally {
    await server.stop();
  }
}

try {
  console.log(
    `process.nextTick after 2 s of load, ns per call (server CPU µs per request), ${processes} processes per store (Node ${process.version})`,
  );
  for (const store of stores) {
    const figures = [];
    for (let i = 0; i < processes; i++) {
      const { ns, cpu } = await once(store);
      figures.push(`${ns} (${cpu.toFixed(1)})`);
    }
    console.log(`${store.padEnd(8)} ${flags.join(' ')} ${figures.join(' ')}`);
  }
} finally {
  await emulator.close();
  rmSync(dir, { recursive: true, force: true });
}
