import { KeyObject, verify as rsaVerify, type webcrypto } from 'node:crypto';
// jose by subpath: a process that loads all of jose's root export serves every request about 3 µs
// slower, on any route (bench/import-cost.mjs); the parts used here cost nothing measurable.
import type { JWTHeaderParameters, JWTPayload, JWTVerifyOptions } from 'jose';
import * as joseErrors from 'jose/errors';
import { UnsecuredJWT } from 'jose/jwt/unsecured';
import { jwtVerify } from 'jose/jwt/verify';

/** The key for a token's protected header, as jose's `jwtVerify` takes it (a JWKS's key getter). */
export type HeaderKey = (header: JWTHeaderParameters) => Promise<unknown> | unknown;

/** `{"alg":"none"}`: the header jose's claim checks are run under once the signature verified. */
const NONE_HEADER = Buffer.from('{"alg":"none"}').toString('base64url');

/** node:crypto's view of each WebCrypto key jose imported, or null when the fast path cannot use it. */
const keyObjects = new WeakMap<object, KeyObject | null>();

/**
 * An RSASSA-PKCS1-v1_5 SHA-256 public key of 2048 bits or more, allowed to verify, as node:crypto's
 * `KeyObject`; null for anything else (jose then judges the key itself).
 */
function rs256Key(key: unknown): KeyObject | null {
  if (typeof key !== 'object' || key === null) return null;
  let known = keyObjects.get(key);
  if (known !== undefined) return known;
  known = null;
  if (key instanceof (globalThis as unknown as { CryptoKey: typeof webcrypto.CryptoKey }).CryptoKey) {
    const algorithm = key.algorithm as webcrypto.RsaHashedKeyAlgorithm;
    if (
      key.type === 'public' &&
      key.usages.includes('verify') &&
      algorithm.name === 'RSASSA-PKCS1-v1_5' &&
      algorithm.hash?.name === 'SHA-256' &&
      typeof algorithm.modulusLength === 'number' &&
      algorithm.modulusLength >= 2048
    ) {
      known = KeyObject.from(key);
    }
  }
  keyObjects.set(key, known);
  return known;
}

/** The protected header when it is the plain RS256 kind the fast path handles, else undefined. */
function plainRs256Header(encoded: string): JWTHeaderParameters | undefined {
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return undefined;
  const h = header as Record<string, unknown>;
  // `crit` and `b64` change how a JWS is read: jose handles those (and refuses what it must).
  if (h.alg !== 'RS256' || 'crit' in h || 'b64' in h) return undefined;
  return h as JWTHeaderParameters;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * jose's `jwtVerify` for RS256 tokens, with the signature checked by node:crypto's synchronous RSA
 * verify instead of WebCrypto (three times the CPU here, on libuv's thread pool). Everything else is
 * still jose's: the key is the one jose's JWKS getter selects for the header (`kid`, key type, `alg`
 * of the key, `use`), and the claims (issuer, audience, `exp`, `nbf`, required claims, tolerance) are
 * checked by jose's own claim validation, with the same errors. `options.algorithms` must allow
 * RS256 for the fast path to be taken. A token the fast path does not handle as jose would (another
 * `alg`, `crit` or `b64` in its header, a header that does not parse, a key that is not a 2048-bit or
 * larger RS256 verification key, a signature whose encoding jose would refuse) goes to jose's
 * `jwtVerify` whole, so nothing is accepted here that jose would refuse.
 *
 * @example
 * ```ts
 * const { payload } = await verifyJwt(token, (header) => jwks.getKey(header), {
 *   issuer: 'https://example.kinde.com',
 *   algorithms: ['RS256'],
 * });
 * ```
 */
export async function verifyJwt(
  token: string,
  getKey: HeaderKey,
  options: JWTVerifyOptions & { algorithms: string[] },
): Promise<{ payload: JWTPayload }> {
  const parts = token.split('.');
  const [head, body, signature] = parts as [string, string, string];
  const header =
    parts.length === 3 &&
    options.algorithms.includes('RS256') &&
    options.typ === undefined &&
    // Buffer's decoder skips characters jose's refuses: the header and the signature, which it
    // decodes, must be strict base64url. The payload is decoded by jose itself.
    BASE64URL.test(head) &&
    BASE64URL.test(signature) &&
    signature.length % 4 !== 1
      ? plainRs256Header(head)
      : undefined;
  if (header === undefined) return jwtVerify(token, getKey as never, options);
  const key = await getKey(header);
  const nodeKey = rs256Key(key);
  if (nodeKey === null) return jwtVerify(token, key as never, options);
  const signed = Buffer.from(`${head}.${body}`, 'latin1');
  if (!rsaVerify('sha256', signed, nodeKey, Buffer.from(signature, 'base64url'))) {
    throw new joseErrors.JWSSignatureVerificationFailed();
  }
  // The signature holds: jose decodes the payload and checks the claims as jwtVerify would.
  return { payload: UnsecuredJWT.decode(`${NONE_HEADER}.${body}.`, options).payload };
}
