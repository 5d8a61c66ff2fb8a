#!/usr/bin/env node
// What importing a module costs every request of an unrelated route: bare Fastify `GET /` in a
// process that imported nothing, against the same in processes that imported each given module
// (servers/fastify-importing.mjs), autocannon, rounds interleaved, CPU per request of the server.
//
// node bench/import-cost.mjs [--rounds 3] jose fastify-kinde ./dist/src/tokens.js
import { parseArgs } from 'node:util';
import { freePort } from 'test-kit';
import { median, runLoad } from './lib/load.mjs';
import { killAll, pinSelf, startServer } from './lib/proc.mjs';

const { values, positionals } = parseArgs({
  options: { rounds: { type: 'string', default: '3' } },
  allowPositionals: true,
});
pinSelf();
const script = new URL('./servers/fastify-importing.mjs', import.meta.url).pathname;
const servers = [];
for (const specifier of ['', ...positionals]) {
  const env = { PORT: String(await freePort()), ...(specifier ? { IMPORT: specifier } : {}) };
  servers.push({ name: specifier || '(nothing)', server: await startServer(script, { env }), cpu: [] });
}
try {
  for (const s of servers) await runLoad({ url: `${s.server.info.url}/`, pid: s.server.pid, seconds: 1 });
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const s of servers) {
      const result = await runLoad({ url: `${s.server.info.url}/`, pid: s.server.pid, seconds: 3 });
      s.cpu.push(result.cpuPerReqUs);
    }
  }
  const base = median(servers[0]?.cpu ?? []);
  for (const s of servers) {
    const cpu = median(s.cpu);
    console.log(
      `${s.name.padEnd(32)} ${cpu.toFixed(1).padStart(6)} µs CPU/req  (${cpu >= base ? '+' : ''}${(cpu - base).toFixed(1)})`,
    );
  }
} finally {
  killAll();
}
