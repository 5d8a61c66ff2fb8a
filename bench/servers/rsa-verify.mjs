// One node:crypto RSA verification (RS256, 2048-bit key), counted in instructions by lib/callgrind.mjs:
// `GET /?n=K` verifies K times and answers how many held. The first-use bearer target's budget in the
// instruction count is one of these. SIGNED_BYTES: the signing input's length, that of the bench's
// access token (header and payload: SHA-256 runs over it, about 1,400 instructions per 64 bytes); 700
// by default.
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const data = randomBytes(Number(process.env.SIGNED_BYTES ?? 700) || 700);
const signature = sign('sha256', data, privateKey);
const server = createServer((request, response) => {
  const n = Math.min(10_000, Number(new URL(request.url ?? '/', 'http://x').searchParams.get('n')) || 1);
  let held = 0;
  for (let i = 0; i < n; i++) if (verify('sha256', data, publicKey, signature)) held += 1;
  response.writeHead(held === n ? 200 : 500, { 'content-type': 'text/plain' });
  response.end(String(held));
});
const port = portFromEnv();
server.listen(port, '127.0.0.1', () => ready({ url: `http://127.0.0.1:${port}` }));
exitOnSignal(() => new Promise((resolve) => server.close(resolve)));
