import { spawn } from 'node:child_process';
import { defaultDirectory, startEmulator } from 'kinde-emulator';
import { freePort } from 'test-kit';

const emulator = await startEmulator({ port: 0 });
const app = defaultDirectory().applications[0];
const stores = (process.argv[2] ?? 'memory,redis').split(',');
const extra = process.argv.slice(3);
async function once(store) {
  const port = await freePort();
  const child = spawn('taskset', ['-c', '1', process.execPath, ...extra, 'bench/servers/kinde.mjs'], {
    env: {
      ...process.env,
      PORT: String(port),
      ISSUER_URL: emulator.issuerUrl,
      CLIENT_ID: app.clientId,
      CLIENT_SECRET: app.clientSecret,
      STORE: store,
      SQLITE_PATH: '/tmp/tp.db',
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_PREFIX: 'tp:',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const ns = await new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /BENCH_READY (.*)/.exec(out);
      if (m) resolve(JSON.parse(m[1]).nextTickNs);
    });
  });
  child.kill();
  if (process.env.SHOW)
    console.log(
      out
        .split('\n')
        .filter((l) => l.includes(process.env.SHOW))
        .join('\n'),
    );
  return ns;
}
for (const store of stores) {
  const r = [];
  for (let i = 0; i < Number(process.env.N ?? 6); i++) r.push(await once(store));
  console.log(store, extra.join(' '), r.join(' '));
}
await emulator.close();
