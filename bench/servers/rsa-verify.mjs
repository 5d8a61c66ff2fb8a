// One node:crypto RSA verification (RS256, 2048-bit key, a 700-byte signing input like an access
// token's), counted in instructions by lib/callgrind.mjs: `GET /?n=K` verifies K times and answers
// how many held. The first-use bearer target's budget in the instruction count is one of these.
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { exitOnSignal, portFromEnv, ready } from './ready.mjs';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const data = randomBytes(700);
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
