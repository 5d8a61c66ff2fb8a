// The synchronous RS256 path (jwt-verify.ts's verifyJwtNow, used for every token whose key is
// known): hand-made tokens an attacker could send, each decided exactly as jose's jwtVerify decides
// it, or left to it; and through the plugin, each refused with a 401 that says why.
import assert from 'node:assert/strict';
import { generateKeyPairSync, KeyObject, sign as rsaSign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import { requireAuth } from '../src/index.js';
import { verifyJwt, verifyJwtNow } from '../src/jwt-verify.js';
import { type Rig, startRig } from './setup.js';

const ISSUER = 'https://issuer.example';
const AT = 1_800_000_000;
const OPTIONS: JWTVerifyOptions & { algorithms: string[] } = {
  issuer: ISSUER,
  algorithms: ['RS256'],
  clockTolerance: 5,
  requiredClaims: ['exp'],
  currentDate: new Date(AT * 1000),
};

const seg = (bytes: string | Buffer) => Buffer.from(bytes).toString('base64url');
const json = (value: unknown) => seg(JSON.stringify(value));

/** What a verification ends in: the payload, or the error's class name and code. */
async function outcome(run: () => Promise<{ payload: unknown }>): Promise<unknown> {
  try {
    return { payload: (await run()).payload };
  } catch (error) {
    return { error: (error as Error).constructor.name, code: (error as { code?: string }).code };
  }
}

/** The same for the synchronous path; `undefined` when it leaves the token to verifyJwt. */
function outcomeNow(run: () => unknown): unknown {
  try {
    const payload = run();
    return payload === undefined ? undefined : { payload };
  } catch (error) {
    return { error: (error as Error).constructor.name, code: (error as { code?: string }).code };
  }
}

/** The last base64url character with its unused low bits set: the same bytes to a lenient decoder. */
function nonCanonical(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const unused = segment.length % 4 === 2 ? 4 : segment.length % 4 === 3 ? 2 : 0;
  assert.ok(unused > 0, 'a segment with unused bits');
  const last = alphabet.indexOf(segment.at(-1)!);
  return segment.slice(0, -1) + alphabet[last | ((1 << unused) - 1)];
}

describe('verifyJwtNow: what an attacker can send is decided as jose decides it', () => {
  let key: KeyObject;
  let keys: ReturnType<typeof createLocalJWKSet>;
  let known: (kid: string | undefined) => unknown;
  /** Signs the exact segment texts given: the header and payload may be anything. */
  const signed = (head: string, body: string) =>
    `${head}.${body}.${rsaSign('sha256', Buffer.from(`${head}.${body}`), key).toString('base64url')}`;
  const header = json({ alg: 'RS256', kid: 'good' });
  const claims = { iss: ISSUER, sub: 'kp_1', exp: AT + 600 };

  before(async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwks: JWK[] = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'good', alg: 'RS256', use: 'sig' },
      { ...(other.publicKey.export({ format: 'jwk' }) as JWK), kid: 'other', alg: 'RS256', use: 'sig' },
    ];
    keys = createLocalJWKSet({ keys: jwks });
    key = KeyObject.from(rsa.privateKey);
    const chosen = new Map<string | undefined, unknown>();
    for (const kid of ['good', 'other']) chosen.set(kid, await keys({ alg: 'RS256', kid }));
    known = (kid) => chosen.get(kid);
  });

  test('every token ends as jose says; the synchronous path decides the plain ones or leaves them', async () => {
    const good = signed(header, json(claims));
    const [head, body, signature] = good.split('.') as [string, string, string];
    const huge = { ...claims, padding: 'x'.repeat(100_000) };
    const tokens: Record<string, unknown> = {
      good,
      'a claim in UTF-8 beyond ASCII': signed(header, json({ ...claims, name: 'Zoë 🎉 名前' })),
      'a payload with a claim twice (the last one counts, as for jose)': signed(
        header,
        seg(`{"iss":"${ISSUER}","exp":${AT + 600},"sub":"kp_1","sub":"kp_2"}`),
      ),
      'a payload with __proto__': signed(
        header,
        seg(`{"__proto__":{"admin":true},"iss":"${ISSUER}","exp":${AT + 600}}`),
      ),
      'a header with alg twice, RS256 last': signed(seg('{"alg":"none","alg":"RS256","kid":"good"}'), body),
      'a header with alg twice, none last': signed(seg('{"alg":"RS256","kid":"good","alg":"none"}'), body),
      'a header with a byte order mark': signed(
        seg(`\uFEFF${JSON.stringify({ alg: 'RS256', kid: 'good' })}`),
        body,
      ),
      'a payload with a byte order mark': signed(header, seg(`\uFEFF${JSON.stringify(claims)}`)),
      'a header that is not UTF-8': signed(
        seg(
          Buffer.concat([
            Buffer.from('{"alg":"RS256","kid":"good","x":"'),
            Buffer.from([0xff]),
            Buffer.from('"}'),
          ]),
        ),
        body,
      ),
      'a payload that is not UTF-8': signed(
        header,
        seg(
          Buffer.concat([
            Buffer.from(`{"iss":"${ISSUER}","exp":${AT + 600},"x":"`),
            Buffer.from([0xc3]),
            Buffer.from('"}'),
          ]),
        ),
      ),
      'an escaped lone surrogate in a claim': signed(
        header,
        seg(`{"iss":"${ISSUER}","exp":${AT + 600},"x":"\\ud800"}`),
      ),
      'a payload with unused bits set': signed(header, nonCanonical(json({ ...claims, n: 1 }))),
      'a header with unused bits set': signed(nonCanonical(json({ alg: 'RS256', kid: 'good', n: 1 })), body),
      'a signature with unused bits set': `${head}.${body}.${nonCanonical(signature)}`,
      'a header with padding': signed(`${json({ alg: 'RS256', kid: 'good', n: 1 })}=`, body),
      'a signature with padding': `${head}.${body}.${signature}==`,
      'a payload in standard base64 (+ and /)': signed(
        header,
        Buffer.from(JSON.stringify({ ...claims, x: '>>>???~~~' })).toString('base64'),
      ),
      'a payload with a space in it': signed(header, `${body.slice(0, 8)} ${body.slice(8)}`),
      'a signature one character long': `${head}.${body}.${signature}A`,
      'a signature of 4n+1 characters': `${head}.${body}.${signature.slice(0, -1)}`,
      'a flipped signature': `${head}.${body}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`,
      'a signature of another key': `${head}.${body}.${rsaSign('sha256', Buffer.from('x'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey).toString('base64url')}`,
      'the payload of another token': `${head}.${json({ ...claims, sub: 'kp_admin' })}.${signature}`,
      'a header naming another key': signed(json({ alg: 'RS256', kid: 'other' }), body),
      'alg none': `${json({ alg: 'none', kid: 'good' })}.${body}.`,
      'alg none with a signature': `${json({ alg: 'none', kid: 'good' })}.${body}.${signature}`,
      'alg rs256 in lower case': signed(json({ alg: 'rs256', kid: 'good' }), body),
      'alg HS256': `${json({ alg: 'HS256', kid: 'good' })}.${body}.${signature}`,
      'alg RS512': signed(json({ alg: 'RS512', kid: 'good' }), body),
      'alg PS256': signed(json({ alg: 'PS256', kid: 'good' }), body),
      'an unknown kid': signed(json({ alg: 'RS256', kid: 'nobody' }), body),
      'an empty kid': signed(json({ alg: 'RS256', kid: '' }), body),
      'a kid that is a number': signed(json({ alg: 'RS256', kid: 5 }), body),
      'a kid that is an object': signed(json({ alg: 'RS256', kid: { toString: 'good' } }), body),
      'no kid (two keys match)': signed(json({ alg: 'RS256' }), body),
      'a header that is an array': signed(json(['RS256']), body),
      'a header that is null': signed(seg('null'), body),
      'a header that is a string': signed(json('RS256'), body),
      'a header that is not JSON': signed(seg('{"alg":"RS256",'), body),
      'a payload that is an array': signed(header, json([claims])),
      'a payload that is a string': signed(header, json('claims')),
      'a payload that is a number': signed(header, seg('1800000000')),
      'a payload that is null': signed(header, seg('null')),
      'a payload that is not JSON': signed(header, seg(`{"iss":"${ISSUER}",`)),
      'an empty payload': signed(header, ''),
      'an empty header': signed('', body),
      expired: signed(header, json({ ...claims, exp: AT - 60 })),
      'expired by the tolerance exactly': signed(header, json({ ...claims, exp: AT - 5 })),
      'within the tolerance': signed(header, json({ ...claims, exp: AT - 4 })),
      'not yet valid': signed(header, json({ ...claims, nbf: AT + 60 })),
      'valid from within the tolerance': signed(header, json({ ...claims, nbf: AT + 5 })),
      'exp a string': signed(header, json({ ...claims, exp: String(AT + 600) })),
      'exp null': signed(header, json({ ...claims, exp: null })),
      'exp beyond every number': signed(header, seg(`{"iss":"${ISSUER}","exp":1e400}`)),
      'nbf a string': signed(header, json({ ...claims, nbf: '0' })),
      'iat a string': signed(header, json({ ...claims, iat: 'now' })),
      'no exp': signed(header, json({ iss: ISSUER, sub: 'kp_1' })),
      'no iss': signed(header, json({ sub: 'kp_1', exp: AT + 600 })),
      'another issuer': signed(header, json({ ...claims, iss: 'https://issuer.example.evil' })),
      'an issuer with a trailing slash': signed(header, json({ ...claims, iss: `${ISSUER}/` })),
      'the issuer as a list': signed(header, json({ ...claims, iss: [ISSUER] })),
      'a huge payload': signed(header, json(huge)),
      'a huge payload with the signature of another': `${header}.${json(huge)}.${signature}`,
      'two segments': `${head}.${body}`,
      'four segments': `${good}.${signature}`,
      'a leading space': ` ${good}`,
      'a trailing newline': `${good}\n`,
      'not a string': 12345,
    };
    const decided: string[] = [];
    for (const [name, token] of Object.entries(tokens)) {
      const jose = await outcome(() => jwtVerify(token as string, keys, OPTIONS));
      assert.deepEqual(await outcome(() => verifyJwt(token as string, keys, OPTIONS)), jose, name);
      const now = outcomeNow(() => verifyJwtNow(token as string, known, OPTIONS));
      if (now === undefined) continue;
      decided.push(name);
      assert.deepEqual(now, jose, `${name} (synchronous)`);
    }
    for (const name of [
      'good',
      'a claim in UTF-8 beyond ASCII',
      'a payload with a claim twice (the last one counts, as for jose)',
      'a payload with __proto__',
      'a flipped signature',
      'the payload of another token',
      'a header naming another key',
      'a payload that is an array',
      'expired',
      'not yet valid',
      'exp a string',
      'iat a string',
      'no exp',
      'another issuer',
      'a huge payload',
    ]) {
      assert.ok(decided.includes(name), `the synchronous path decides "${name}"`);
    }
  });

  test('every one-character change to a segment is decided as jose decides it, or left to it', async () => {
    // The strict base64url check (jwt-verify.ts's decodeStrict) against jose's own decoding: each
    // segment of a good token with one character replaced, inserted or removed, at its start, middle
    // and end; the header and payload are signed again, so that only their encoding is judged.
    const [head, body, signature] = signed(header, json({ ...claims, n: 12 })).split('.') as [
      string,
      string,
      string,
    ];
    const chars = [
      'A',
      'Q',
      'g',
      'w',
      'z',
      '0',
      '9',
      '-',
      '_',
      '+',
      '/',
      '=',
      ' ',
      '\t',
      '.',
      '!',
      '~',
      'é',
      '\u0100',
    ];
    const variants = (segment: string) => {
      const out = new Set<string>();
      for (const at of [0, segment.length >> 1, segment.length - 1]) {
        for (const c of chars) {
          out.add(segment.slice(0, at) + c + segment.slice(at + 1));
          out.add(segment.slice(0, at) + c + segment.slice(at));
        }
        out.add(segment.slice(0, at) + segment.slice(at + 1));
      }
      for (const c of chars) out.add(segment + c);
      out.delete(segment);
      return [...out];
    };
    const tokens = [
      ...variants(head).map((h) => signed(h, body)),
      ...variants(body).map((b) => signed(head, b)),
      ...variants(signature).map((sig) => `${head}.${body}.${sig}`),
    ];
    let decided = 0;
    for (const token of tokens) {
      const jose = await outcome(() => jwtVerify(token, keys, OPTIONS));
      assert.deepEqual(await outcome(() => verifyJwt(token, keys, OPTIONS)), jose, token);
      const now = outcomeNow(() => verifyJwtNow(token, known, OPTIONS));
      if (now === undefined) continue;
      decided++;
      assert.deepEqual(now, jose, `${token} (synchronous)`);
    }
    assert.ok(tokens.length > 300, `${tokens.length} tokens`);
    assert.ok(decided > 20, `the synchronous path decided ${decided} of them`);
  });

  test('audience and required claims are checked as jose checks them; other options go to jose', async () => {
    const token = signed(header, json({ ...claims, aud: ['api://a', 'api://c'], org_code: 'org_1' }));
    const single = signed(header, json({ ...claims, aud: 'api://a' }));
    const numeric = signed(header, json({ ...claims, aud: 5 }));
    const cases: Array<JWTVerifyOptions & { algorithms: string[] }> = [
      { ...OPTIONS, audience: 'api://a' },
      { ...OPTIONS, audience: ['api://b', 'api://c'] },
      { ...OPTIONS, audience: 'api://b' },
      { ...OPTIONS, audience: [] },
      { ...OPTIONS, requiredClaims: ['exp', 'org_code'] },
      { ...OPTIONS, requiredClaims: ['exp', 'org_id'] },
      { ...OPTIONS, issuer: [ISSUER, 'https://b.example'] },
      { ...OPTIONS, issuer: 'https://b.example', audience: 'api://b', requiredClaims: ['x'] },
      { ...OPTIONS, clockTolerance: 0 },
      { ...OPTIONS, algorithms: ['PS256', 'RS256'] },
      { ...OPTIONS, algorithms: ['PS256'] },
      { ...OPTIONS, typ: 'at+jwt' },
      { ...OPTIONS, subject: 'kp_1' },
      { ...OPTIONS, maxTokenAge: 60 },
      { ...OPTIONS, clockTolerance: '5s' as unknown as number },
    ];
    for (const options of cases) {
      for (const t of [token, single, numeric]) {
        const jose = await outcome(() => jwtVerify(t, keys, options));
        assert.deepEqual(await outcome(() => verifyJwt(t, keys, options)), jose, JSON.stringify(options));
        const now = outcomeNow(() => verifyJwtNow(t, known, options));
        if (now !== undefined) assert.deepEqual(now, jose, `${JSON.stringify(options)} (synchronous)`);
      }
    }
    for (const options of cases.slice(-5)) {
      assert.equal(verifyJwtNow(token, known, options), undefined, `${JSON.stringify(options)} goes to jose`);
    }
  });
});

describe('the plugin with a known key: every refused token is a 401 that says why', () => {
  let rig: Rig;
  let key: KeyObject;
  let kid: string;
  const now = () => Math.floor(Date.now() / 1000);
  const AUDIENCE = 'api://items';
  before(async () => {
    rig = await startRig({
      kinde: { audience: AUDIENCE, bearer: { maxAge: 60, cooldown: 30 } },
      routes(app) {
        app.get('/who', { onRequest: requireAuth() }, (request) => ({ id: request.kinde.getUser()?.id }));
      },
    });
    const active = rig.emulator.keys.active;
    kid = active.kid;
    key = active.privateKey instanceof KeyObject ? active.privateKey : KeyObject.from(active.privateKey);
  });
  after(() => rig.close());

  const claims = () => ({
    iss: rig.emulator.issuerUrl,
    aud: [AUDIENCE],
    sub: 'kp_0123',
    iat: now(),
    exp: now() + 600,
  });
  const signed = (head: string, body: string) =>
    `${head}.${body}.${rsaSign('sha256', Buffer.from(`${head}.${body}`), key).toString('base64url')}`;
  const header = () => json({ alg: 'RS256', kid, typ: 'JWT' });
  const flip = (text: string) => `${text[0] === 'A' ? 'B' : 'A'}${text.slice(1)}`;
  const call = async (authorization: string) => {
    const response = await fetch(`${rig.appUrl}/who`, { headers: { authorization } });
    return {
      status: response.status,
      body: await response.text(),
      challenge: response.headers.get('www-authenticate'),
    };
  };

  test('a fresh token passes; forged, malformed and unacceptable ones are refused with their reason', async () => {
    // The first token loads the key set; from then on the emulator's key is known.
    const first = await call(`Bearer ${signed(header(), json(claims()))}`);
    assert.equal(first.status, 200);
    const fresh = await call(`Bearer ${signed(header(), json({ ...claims(), sub: 'kp_fresh' }))}`);
    assert.deepEqual([fresh.status, fresh.body], [200, '{"id":"kp_fresh"}']);
    // Distinct from the first token (RS256 signatures are deterministic: the same claims, the same token).
    const good = signed(header(), json({ ...claims(), sub: 'kp_good' }));
    const [head, body, signature] = good.split('.') as [string, string, string];
    const refused: Array<[string, string, RegExp]> = [
      [
        'a forged signature',
        `Bearer ${head}.${json({ ...claims(), sub: 'kp_admin' })}.${signature}`,
        /signature does not verify/,
      ],
      ['a + in the signature', `Bearer ${head}.${body}.+${signature.slice(1)}`, /malformed/],
      ['a payload with padding', `Bearer ${head}.${body}=.${signature}`, /malformed/],
      ['a payload that is an array (signed)', `Bearer ${signed(header(), json([claims()]))}`, /malformed/],
      ['a header that is an array (signed)', `Bearer ${signed(json([kid]), body)}`, /malformed/],
      ['a payload that is not JSON (signed)', `Bearer ${signed(header(), seg('{"iss":'))}`, /malformed/],
      [
        'a payload that is not UTF-8 (signed)',
        `Bearer ${signed(header(), seg(Buffer.from([0x7b, 0xff, 0x7d])))}`,
        /malformed/,
      ],
      ['alg none', `Bearer ${json({ alg: 'none', kid })}.${body}.`, /malformed|RS256/],
      ['alg none, signed', `Bearer ${signed(json({ alg: 'none', kid }), body)}`, /RS256/],
      ['alg HS256', `Bearer ${json({ alg: 'HS256', kid })}.${body}.${signature}`, /RS256/],
      ['an unknown kid', `Bearer ${signed(json({ alg: 'RS256', kid: 'nobody' }), body)}`, /unknown key/],
      [
        'a kid that is a number',
        `Bearer ${signed(json({ alg: 'RS256', kid: 7 }), body)}`,
        /unknown key|malformed/,
      ],
      ['expired', `Bearer ${signed(header(), json({ ...claims(), exp: now() - 60 }))}`, /expired/],
      [
        'not yet valid',
        `Bearer ${signed(header(), json({ ...claims(), nbf: now() + 600 }))}`,
        /not valid yet/,
      ],
      [
        'another issuer',
        `Bearer ${signed(header(), json({ ...claims(), iss: 'https://evil.example' }))}`,
        /another issuer/,
      ],
      [
        'another audience',
        `Bearer ${signed(header(), json({ ...claims(), aud: ['api://other'] }))}`,
        /audience/,
      ],
      ['no exp', `Bearer ${signed(header(), json({ ...claims(), exp: undefined }))}`, /exp/],
      ['exp a string', `Bearer ${signed(header(), json({ ...claims(), exp: 'never' }))}`, /exp/],
      ['an ID token', `Bearer ${signed(header(), json({ ...claims(), nonce: 'n' }))}`, /ID token/],
      ['no user', `Bearer ${signed(header(), json({ ...claims(), sub: ' ' }))}`, /names no user/],
      ['two spaces', `Bearer  ${head}.${body}.${flip(signature)}`, /signature does not verify/],
      ['a trailing space', `Bearer ${head}.${body}.${flip(signature)} `, /signature does not verify/],
      ['a signature of 4n+1 characters', `Bearer ${good.slice(0, -1)}`, /malformed/],
      ['a tab', `Bearer\t${good}`, /malformed/],
      ['four segments', `Bearer ${good}.${signature}`, /malformed/],
      [
        'a large token',
        `Bearer ${flip(signed(header(), json({ ...claims(), pad: 'x'.repeat(8_000) })))}`,
        /signature does not verify|malformed/,
      ],
      [
        'a large token, forged',
        `Bearer ${head}.${json({ ...claims(), pad: 'x'.repeat(8_000) })}.${signature}`,
        /signature does not verify/,
      ],
    ];
    for (const [name, authorization, reason] of refused) {
      const answer = await call(authorization);
      assert.equal(answer.status, 401, name);
      assert.equal(answer.body, '{"detail":"Not authenticated"}', name);
      assert.match(answer.challenge ?? '', /^Bearer error="invalid_token", error_description="/, name);
      assert.match(answer.challenge ?? '', reason, name);
    }
    const tooLarge = await call(`Bearer ${signed(header(), json({ ...claims(), pad: 'x'.repeat(40_000) }))}`);
    assert.equal(tooLarge.status, 431, 'a header beyond Node’s limit is refused before any check');
    // The good token was never sent: it still passes, once, and then from the cache.
    assert.equal((await call(`Bearer ${good}`)).status, 200);
    assert.equal((await call(`Bearer ${good}`)).status, 200);
  });
});
