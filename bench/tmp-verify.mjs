import { createPublicKey, generateKeyPairSync, sign as rsaSign, verify } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { verifyJwt } from '../packages/fastify-kinde/dist/src/jwt-verify.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k', alg: 'RS256', use: 'sig' };
const keys = createLocalJWKSet({ keys: [jwk] });
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const tokens = Array.from({ length: 3000 }, (_, i) => {
  const input = `${b64({ alg: 'RS256', kid: 'k', typ: 'JWT' })}.${b64({ iss: 'x', sub: 'kp_1234567890', exp: now + 600, iat: now, jti: `j${i}`, aud: [], azp: 'c', permissions: ['a', 'b'], scp: ['openid'] })}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
});
const opts = { issuer: 'x', algorithms: ['RS256'], clockTolerance: 5, requiredClaims: ['exp'] };
async function time(name, fn) {
  for (const t of tokens.slice(0, 300)) await fn(t);
  const before = process.cpuUsage();
  for (const t of tokens) await fn(t);
  const used = process.cpuUsage(before);
  console.log(name, ((used.user + used.system) / tokens.length).toFixed(1), 'µs');
}
const [h, p, s] = tokens[0].split('.');
await time('node verify only', async (t) => {
  const [a, b, c] = t.split('.');
  verify('sha256', Buffer.from(`${a}.${b}`), publicKey, Buffer.from(c, 'base64url'));
});
await time('verifyJwt', (t) => verifyJwt(t, keys, opts));
await time('jose jwtVerify', (t) => jwtVerify(t, keys, opts));
await time('verifyJwt', (t) => verifyJwt(t, keys, opts));
const { UnsecuredJWT } = await import('jose');
const NONE = b64({ alg: 'none' });
await time('getKey', (t) => keys({ alg: 'RS256', kid: 'k', typ: 'JWT' }));
await time('header parse', async (t) =>
  JSON.parse(Buffer.from(t.slice(0, t.indexOf('.')), 'base64url').toString()),
);
await time('unsecured decode', async (t) => UnsecuredJWT.decode(`${NONE}.${t.split('.')[1]}.`, opts));
await time('split+regex', async (t) => {
  const parts = t.split('.');
  /^[A-Za-z0-9_-]*$/.test(parts[2]);
  /^[A-Za-z0-9_-]*$/.test(parts[1]);
});
