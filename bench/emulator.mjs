// The emulator's own throughput (issue 3): whole logins per second (authorize with a headless
// login_hint, then the PKCE code exchange) and token-endpoint requests per second (client
// credentials). The emulator runs as its own process (the CLI) on 127.0.0.1, pinned to the server
// core when taskset exists; the load runs here, bounded in time. `node bench/emulator.mjs [--quick]`
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from 'kinde-emulator';
import { freePort } from 'test-kit';
import { pinning, pinSelf } from './lib/proc.mjs';

const quick = process.argv.includes('--quick');
const seconds = quick ? 3 : 10;
const cli = fileURLToPath(new URL('../packages/kinde-emulator/bin/kinde-emulator.js', import.meta.url));

pinSelf();
const port = await freePort();
const issuer = `http://127.0.0.1:${port}`;
const args = [cli, '--port', String(port), '--headless', '--ephemeral-keys'];
const command = pinning ? 'taskset' : process.execPath;
const child = spawn(command, pinning ? ['-c', String(pinning.server), process.execPath, ...args] : args, {
  stdio: ['ignore', 'pipe', 'inherit'],
});
const stop = () => child.kill('SIGTERM');
process.on('exit', stop);
for (;;) {
  const [chunk] = await once(child.stdout, 'data');
  if (String(chunk).includes(issuer)) break;
}

const redirectUri = 'http://127.0.0.1:9/callback';
const b64url = (buffer) => buffer.toString('base64url');

/** One whole login: authorize (headless) → code → token exchange with PKCE and the secret. */
async function oneLogin() {
  const verifier = b64url(randomBytes(32));
  const auth = new URL(`${issuer}/oauth2/auth`);
  auth.search = new URLSearchParams({
    client_id: DEFAULT_CLIENT_ID,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid profile email offline',
    state: b64url(randomBytes(16)),
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    login_hint: 'admin@example.test',
  }).toString();
  const answer = await fetch(auth, { redirect: 'manual' });
  const code = new URL(answer.headers.get('location') ?? '', issuer).searchParams.get('code');
  if (!code) throw new Error(`no code (HTTP ${answer.status})`);
  const token = await fetch(`${issuer}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      client_id: DEFAULT_CLIENT_ID,
      client_secret: DEFAULT_CLIENT_SECRET,
    }),
  });
  if (token.status !== 200) throw new Error(`token exchange answered ${token.status}`);
  await token.arrayBuffer();
}

async function logins(concurrency) {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < end) {
      await oneLogin();
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return done / ((performance.now() - started) / 1000);
}

try {
  await logins(4).catch(() => 0); // warm-up
  const loginRate = await logins(16);
  const tokenRun = await autocannon({
    url: `${issuer}/oauth2/token`,
    method: 'POST',
    connections: 16,
    duration: seconds,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: DEFAULT_CLIENT_ID,
      client_secret: DEFAULT_CLIENT_SECRET,
    }).toString(),
  });
  console.log(
    `kinde-emulator, ${seconds} s per row, emulator ${pinning ? `on core ${pinning.server}` : 'unpinned'}`,
  );
  console.log('| what | per second |\n|---|---:|');
  console.log(`| whole logins (authorize + PKCE code exchange, 16 in flight) | ${Math.round(loginRate)} |`);
  console.log(
    `| token endpoint, client_credentials (16 connections) | ${Math.round(tokenRun.requests.average)} (non-2xx: ${tokenRun.non2xx}) |`,
  );
} finally {
  stop();
}
