import assert from 'node:assert/strict';
import { generateKeyPairSync, KeyObject, sign as rsaSign, webcrypto } from 'node:crypto';
import { before, describe, test } from 'node:test';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import { verifyJwt } from '../src/jwt-verify.js';

const ISSUER = 'https://issuer.example';
const OPTIONS: JWTVerifyOptions & { algorithms: string[] } = {
  issuer: ISSUER,
  algorithms: ['RS256'],
  clockTolerance: 5,
  requiredClaims: ['exp'],
};

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** What a verification ends in: the payload, or the error's class name and code. */
async function outcome(run: () => Promise<{ payload: unknown }>): Promise<unknown> {
  try {
    return { payload: (await run()).payload };
  } catch (error) {
    return { error: (error as Error).constructor.name, code: (error as { code?: string }).code };
  }
}

describe('verifyJwt: node:crypto signature check, jose for keys and claims', () => {
  let sign: (claims: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string>;
  let signSmall: (claims: Record<string, unknown>) => Promise<string>;
  let keys: ReturnType<typeof createLocalJWKSet>;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    // jose makes no key under 2048 bits: node:crypto makes it, and signs with it.
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const ps = await generateKeyPair('PS256', { extractable: true });
    const jwks: JWK[] = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'good', alg: 'RS256', use: 'sig' },
      { ...(small.publicKey.export({ format: 'jwk' }) as JWK), kid: 'small', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ps.publicKey)), kid: 'ps', alg: 'PS256', use: 'sig' },
    ];
    keys = createLocalJWKSet({ keys: jwks });
    // Signed by hand: jose refuses to sign some of the headers under test (crit, b64).
    const goodKey = KeyObject.from(rsa.privateKey);
    sign = async (claims, header = {}) => {
      const input = `${b64({ alg: 'RS256', kid: 'good', ...header })}.${b64(claims)}`;
      return `${input}.${rsaSign('sha256', Buffer.from(input), goodKey).toString('base64url')}`;
    };
    signSmall = async (claims) => {
      const input = `${b64({ alg: 'RS256', kid: 'small' })}.${b64(claims)}`;
      return `${input}.${rsaSign('sha256', Buffer.from(input), small.privateKey).toString('base64url')}`;
    };
  });

  test('every token ends as jose says: same payload, or the same error class and code', async () => {
    const base = { iss: ISSUER, sub: 'kp_1', exp: now() + 600 };
    const good = await sign(base);
    const [head, body, signature] = good.split('.') as [string, string, string];
    const other = await sign({ ...base, sub: 'kp_2' });
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    const tokens: Record<string, string> = {
      good,
      'payload swapped': `${head}.${other.split('.')[1]}.${signature}`,
      'signature flipped': `${head}.${body}.${flipped}`,
      'signature missing': `${head}.${body}.`,
      'signature one character too long': `${head}.${body}.${signature}A`,
      expired: await sign({ ...base, exp: now() - 60 }),
      'not yet valid': await sign({ ...base, nbf: now() + 600 }),
      'within the tolerance': await sign({ ...base, exp: now() - 2 }),
      'another issuer': await sign({ ...base, iss: 'https://other.example' }),
      'no exp': await sign({ iss: ISSUER, sub: 'kp_1' }),
      'unknown kid': await sign(base, { kid: 'nobody' }),
      'kid of a PS256 key': await sign(base, { kid: 'ps' }),
      'a 1024-bit key': await signSmall(base),
      'alg none': `${b64({ alg: 'none' })}.${body}.`,
      'alg HS256': `${b64({ alg: 'HS256', kid: 'good' })}.${body}.${signature}`,
      'crit header': await sign(base, { crit: ['exp'], exp: 1 }),
      'b64 false': await sign(base, { crit: ['b64'], b64: false }),
      'b64 true': await sign(base, { crit: ['b64'], b64: true }),
      'header not JSON': `${Buffer.from('{alg').toString('base64url')}.${body}.${signature}`,
      'payload not JSON': `${head}.${Buffer.from('[1,').toString('base64url')}.${signature}`,
      'payload an array': `${head}.${b64([1])}.${signature}`,
      'two segments': `${head}.${body}`,
      'four segments': `${good}.x`,
    };
    for (const [name, token] of Object.entries(tokens)) {
      const ours = await outcome(() => verifyJwt(token, keys, OPTIONS));
      const jose = await outcome(() => jwtVerify(token, keys, OPTIONS));
      assert.deepEqual(ours, jose, name);
    }
    assert.deepEqual(await outcome(() => verifyJwt(good, keys, OPTIONS)), {
      payload: base,
    });
  });

  test('a non-extractable key is left to jose: the same outcome, and no DEP0204 warning', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(rsa.publicKey);
    const sealed = await webcrypto.subtle.importKey(
      'jwk',
      jwk,
      { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      false,
      ['verify'],
    );
    const privateKey = KeyObject.from(rsa.privateKey);
    const signed = (claims: Record<string, unknown>) => {
      const input = `${b64({ alg: 'RS256', kid: 'sealed' })}.${b64(claims)}`;
      return `${input}.${rsaSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    };
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => warnings.push(warning.code ?? warning.name);
    process.on('warning', onWarning);
    try {
      for (const token of [
        signed({ iss: ISSUER, sub: 'kp_1', exp: now() + 600 }),
        signed({ iss: ISSUER, sub: 'kp_1', exp: now() - 600 }),
        `${signed({ iss: ISSUER, sub: 'kp_1', exp: now() + 600 }).slice(0, -4)}AAAA`,
      ]) {
        assert.deepEqual(
          await outcome(() => verifyJwt(token, () => sealed, OPTIONS)),
          await outcome(() => jwtVerify(token, sealed, OPTIONS)),
        );
      }
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings, []);
    assert.equal(
      (await verifyJwt(signed({ iss: ISSUER, exp: now() + 60 }), () => sealed, OPTIONS)).payload.iss,
      ISSUER,
    );
  });

  test('options are jose’s: audience and required claims are enforced after the signature', async () => {
    const token = await sign({ iss: ISSUER, sub: 'kp_1', exp: now() + 600, aud: ['api://a'] });
    for (const options of [
      { ...OPTIONS, audience: 'api://a' },
      { ...OPTIONS, audience: 'api://b' },
      { ...OPTIONS, requiredClaims: ['exp', 'org_code'] },
      { ...OPTIONS, algorithms: ['PS256'] },
      { ...OPTIONS, typ: 'at+jwt' },
    ]) {
      assert.deepEqual(
        await outcome(() => verifyJwt(token, keys, options)),
        await outcome(() => jwtVerify(token, keys, options)),
        JSON.stringify(options),
      );
    }
  });
});
