// Never-seen bearer tokens, minted in bulk: copies of a real access token's claims with a fresh
// `jti` and `iat`, signed with the emulator's key. Two processes, one per core, split the work;
// `node lib/mint.mjs` is also the worker itself.
import { spawn } from 'node:child_process';
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { pinning, track } from './proc.mjs';

const self = fileURLToPath(import.meta.url);

/** Worker: reads its job from MINT_JOB, writes one token per line. */
function work() {
  const { privateJwk, kid, claims, count } = JSON.parse(/** @type {string} */ (process.env.MINT_JOB));
  const key = createPrivateKey({ key: privateJwk, format: 'jwk' });
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid, typ: 'JWT' })).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const lines = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(JSON.stringify({ ...claims, iat: now, jti: randomUUID() })).toString(
      'base64url',
    );
    const input = `${header}.${payload}`;
    lines.push(`${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`);
    if (lines.length === 1000) process.stdout.write(`${lines.splice(0).join('\n')}\n`);
  }
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * Mints `count` tokens shaped like `template` (a real access token from the emulator).
 *
 * @param {{ template: string, kid: string, privateJwk: object, count: number }} job
 * @returns {Promise<string[]>}
 */
export async function mintTokens({ template, kid, privateJwk, count }) {
  const claims = JSON.parse(Buffer.from(template.split('.')[1] ?? '', 'base64url').toString());
  const cores = pinning ? [pinning.load, pinning.server] : [null, null];
  const shares = [Math.ceil(count / 2), Math.floor(count / 2)];
  const parts = await Promise.all(
    cores.map((core, i) => {
      const env = { ...process.env, MINT_JOB: JSON.stringify({ privateJwk, kid, claims, count: shares[i] }) };
      const args = core === null ? [self] : ['-c', String(core), process.execPath, self];
      const child = spawn(core === null ? process.execPath : 'taskset', args, {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      track(child);
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk) => {
        out += chunk;
      });
      return new Promise((resolve, reject) => {
        child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`mint exited ${code}`))));
      });
    }),
  );
  return parts.flatMap((text) => /** @type {string} */ (text).split('\n').filter(Boolean));
}

if (process.argv[1] === self && process.env.MINT_JOB) work();
