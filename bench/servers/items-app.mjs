// The example app exactly as `npm start` runs it: examples/items-api/dist/main.bundle.mjs (the
// esbuild bundle), its embedded emulator, its default SQLite store in `.data/` of its working
// directory, its own logger level (`warn`). This script only moves to an empty working directory
// (no `.env`, a fresh `.data/`), imports the bundle in this same process, and says when it answers.
//
// env: PORT, EMULATOR_PORT, APP_DIR (the working directory), and optionally SESSION_STORE=memory.
// With PROVIDER=outside, the app is configured as it is in production, through KINDE_ISSUER_URL,
// KINDE_CLIENT_ID, KINDE_CLIENT_SECRET, KINDE_SITE_URL and SESSION_SECRET: it then embeds no emulator and signs in
// through the identity provider at KINDE_ISSUER_URL, another process (the runner's emulator).
import { mkdirSync } from 'node:fs';
import { portFromEnv, ready } from './ready.mjs';

const port = portFromEnv();
if (!process.env.APP_DIR) throw new Error('APP_DIR must be set to an empty folder');
const outside = process.env.PROVIDER === 'outside';
if (outside) {
  for (const name of [
    'KINDE_ISSUER_URL',
    'KINDE_CLIENT_ID',
    'KINDE_CLIENT_SECRET',
    'KINDE_SITE_URL',
    'SESSION_SECRET',
  ])
    if (!process.env[name]) throw new Error(`PROVIDER=outside needs ${name}`);
} else if (!process.env.EMULATOR_PORT) throw new Error('EMULATOR_PORT must be set to a free port');
mkdirSync(process.env.APP_DIR, { recursive: true });
process.chdir(process.env.APP_DIR);
// As a user's shell would have it: no identity provider configured, so the embedded emulator runs;
// or, with PROVIDER=outside, only the KINDE_* variables and SESSION_SECRET a deployment sets.
for (const name of ['ISSUER_URL', 'CLIENT_ID', 'CLIENT_SECRET', 'LOG_LEVEL', 'HOST'])
  delete process.env[name];
if (!outside) delete process.env.KINDE_ISSUER_URL;

// The bundle's top-level await resolves once the app and its emulator listen. Its own SIGTERM handler
// closes both and exits (so `--cpu-prof` profiles are written).
await import(new URL('../../examples/items-api/dist/main.bundle.mjs', import.meta.url).href);
ready({
  url: `http://127.0.0.1:${port}`,
  emulator: outside ? process.env.KINDE_ISSUER_URL : `http://127.0.0.1:${process.env.EMULATOR_PORT}`,
});
