import { isAscii, isUtf8 } from 'node:buffer';
import { KeyObject, verify as rsaVerify, type webcrypto } from 'node:crypto';
// jose by subpath: a process that loads all of jose's root export serves every request about 3 µs
// slower, on any route (bench/import-cost.mjs); the parts used here cost nothing measurable.
import type { JWTHeaderParameters, JWTPayload, JWTVerifyOptions } from 'jose';
import * as joseErrors from 'jose/errors';
import { jwtVerify } from 'jose/jwt/verify';

/** The key for a token's protected header, as jose's `jwtVerify` takes it (a JWKS's key getter). */
export type HeaderKey = (header: JWTHeaderParameters) => Promise<unknown> | unknown;

/**
 * The key jose's key getter chose before for an RS256 header with this `kid` (a string, or
 * undefined when the header has none), from the key set in use; undefined when there is none yet.
 * Never fetches, never waits.
 */
export type KnownKey = (kid: string | undefined) => unknown;

/**
 * The options the fast path checks itself: anything else (`typ`, `subject`, `maxTokenAge`, …) goes to
 * jose. An options object is judged once, at its first use, and must not change afterwards (the
 * verifier's never do: one object, or a new one per check).
 */
export type VerifyOptions = JWTVerifyOptions & { algorithms: string[] };

/** node:crypto's view of each WebCrypto key jose imported, or null when the fast path cannot use it. */
const keyObjects = new WeakMap<object, KeyObject | null>();

/**
 * An RSASSA-PKCS1-v1_5 SHA-256 public key of 2048 bits or more, allowed to verify, as node:crypto's
 * `KeyObject`; null for anything else (jose then judges the key itself). Only an extractable key is
 * taken: `KeyObject.from` of a non-extractable one is deprecated (DEP0204, a warning on Node 24). jose's
 * key sets import theirs as extractable; a key from elsewhere that is not goes to jose whole.
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
      key.extractable &&
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

/** The options the fast path knows; with any other option set, the token goes to jose whole. */
const KNOWN_OPTIONS = new Set([
  'issuer',
  'audience',
  'algorithms',
  'clockTolerance',
  'requiredClaims',
  'currentDate',
]);

/**
 * Options already judged (the verifier passes the same few objects): null when the fast path may not
 * take them, else the claims that must be present, in the order jose checks them (its
 * `validateClaimsSet`: `requiredClaims`, then `aud` with an audience, then `iss` with an issuer,
 * reversed and without repeats), worked out once instead of on every token.
 */
const optionsChecked = new WeakMap<object, readonly string[] | null>();

/** The claims that must be present when the fast path checks these options exactly as jose would; null sends tokens to jose. */
function fastOptions(options: VerifyOptions): readonly string[] | null {
  const known = optionsChecked.get(options);
  if (known !== undefined) return known;
  const { issuer, audience, clockTolerance, requiredClaims, currentDate, algorithms } = options;
  const strings = (value: unknown) =>
    typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
  const ok =
    Object.keys(options).every((name) => KNOWN_OPTIONS.has(name) || options[name as 'typ'] === undefined) &&
    Array.isArray(algorithms) &&
    algorithms.every((a) => typeof a === 'string') &&
    algorithms.includes('RS256') &&
    (issuer === undefined || strings(issuer)) &&
    (audience === undefined || strings(audience)) &&
    (requiredClaims === undefined ||
      (Array.isArray(requiredClaims) && requiredClaims.every((c) => typeof c === 'string'))) &&
    (clockTolerance === undefined ||
      (typeof clockTolerance === 'number' && Number.isFinite(clockTolerance) && clockTolerance >= 0)) &&
    (currentDate === undefined || (currentDate instanceof Date && Number.isFinite(currentDate.getTime())));
  let present: readonly string[] | null = null;
  if (ok) {
    const wanted = [...(requiredClaims ?? [])];
    if (audience !== undefined) wanted.push('aud');
    if (issuer !== undefined) wanted.push('iss');
    present = Object.freeze([...new Set(wanted.reverse())]);
  }
  optionsChecked.set(options, present);
  return present;
}

/**
 * Where segments are decoded: one buffer reused by every check (each runs synchronously to its end,
 * so none can see another's bytes), instead of three allocations per token. A token longer than
 * half of it gets a buffer of its own.
 */
const scratch = Buffer.allocUnsafe(32_768);

/** `length` bytes of `buffer` from `offset`, as a plain view: cheaper than `subarray`, which looks up Buffer's species. */
function view(buffer: Buffer, offset: number, length: number): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset + offset, length);
}

/** A buffer with room for `token`'s signing input and its decoded signature, side by side. */
function room(token: string): Buffer {
  return token.length * 2 <= scratch.length ? scratch : Buffer.allocUnsafe(token.length * 2);
}

/**
 * Decodes the base64url `segment` into `buffer` at `offset`; answers the byte count, or -1 when the
 * segment is not canonical base64url (a character outside `A-Z a-z 0-9 - _`, padding, a length of
 * 4n+1, or non-zero unused bits). The caller has made sure there is no `+` or `/`, which Node's
 * decoder also takes ({@link parse} leaves a token with either to jose). Anything else it does not
 * know it skips or stops at, so every character was decoded only when the byte count is exactly
 * three quarters of the length: for a length other than 4n+1, one character fewer already gives one
 * byte fewer. Then the last character's unused low bits must be zero. About 2,000 instructions
 * cheaper per token than encoding the bytes back and comparing.
 */
function decodeStrict(segment: string, buffer: Buffer, offset: number): number {
  const n = segment.length;
  const tail = n & 3;
  if (tail === 1) return -1;
  const length = buffer.write(segment, offset, 'base64url');
  if (length !== (n * 3) >>> 2) return -1;
  if (tail === 0) return length;
  // The last character's value (its unused bits are the low 4 of 6, or the low 2).
  const c = segment.charCodeAt(n - 1);
  const value = c >= 97 ? c - 71 : c >= 65 ? c - 65 : c >= 48 ? c + 4 : c === 45 ? 62 : 63;
  return (value & (tail === 2 ? 15 : 3)) === 0 ? length : -1;
}

/**
 * The JSON of `length` decoded bytes at `offset` in `buffer`, when they are strict UTF-8 and
 * parse; undefined otherwise (jose then says why: it decodes with a fatal UTF-8 decoder that also
 * drops a leading byte order mark, which JSON.parse refuses, so such a segment is left to it).
 */
function bytesJson(buffer: Buffer, offset: number, length: number): unknown {
  const bytes = view(buffer, offset, length);
  let text: string;
  if (isAscii(bytes)) text = buffer.toString('latin1', offset, offset + length);
  else if (isUtf8(bytes)) text = buffer.toString('utf8', offset, offset + length);
  else return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A plain object as jose's `isObject` sees it (JSON.parse makes no other prototypes). */
function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Header segments already read as plain RS256 headers: every token of one signing key has the same
 * one, so it is decoded and parsed once. Only headers the fast path takes are kept, at most
 * MAX_HEADERS (then the map starts over: headers an attacker invents cost it nothing but a re-read).
 */
const headers = new Map<string, JWTHeaderParameters & { kid?: string }>();
const MAX_HEADERS = 64;

/**
 * The header segment read last and its header: a token with the same segment (every token of one
 * signing key has it) is matched by one string comparison, without hashing the segment for the map
 * (a new token's segment is a new string, hashed anew: about 1,000 instructions). `startsWith` on
 * the token costs as much as the hash.
 */
let lastEncoded = '';
let lastHeader: (JWTHeaderParameters & { kid?: string }) | undefined;

/** A token split and its header read, when it is the plain RS256 kind the fast path handles. */
interface Parsed {
  /** Where the payload segment starts. */
  body: number;
  /** The signing input's length (`head.body`), where the signature segment's dot is. */
  signed: number;
  /** The header's `kid`: a string, or undefined when it has none. */
  kid: string | undefined;
  header: JWTHeaderParameters;
  /** The claims that must be present, in jose's order ({@link fastOptions}). */
  present: readonly string[];
}

/**
 * The token's parts and header, or undefined for anything the fast path leaves to jose. The header
 * is checked here; the payload and signature segments by {@link verifyWith}.
 */
function parse(token: string, options: VerifyOptions): Parsed | undefined {
  if (typeof token !== 'string') return undefined;
  const present = fastOptions(options);
  if (present === null) return undefined;
  const first = token.indexOf('.');
  const second = token.indexOf('.', first + 1);
  // Three non-empty segments (a third dot makes the signature segment fail its decoding).
  if (first < 1 || second < first + 2 || second > token.length - 2) return undefined;
  // Standard base64's two characters, which Node's base64url decoder also takes ({@link decodeStrict}).
  if (token.indexOf('+') !== -1 || token.indexOf('/') !== -1) return undefined;
  const encoded = token.slice(0, first);
  let header: (JWTHeaderParameters & { kid?: string }) | undefined;
  if (encoded === lastEncoded) header = lastHeader!;
  else {
    header = headers.get(encoded);
    if (header === undefined) {
      header = readHeader(encoded, room(token));
      if (header === undefined) return undefined;
      if (headers.size >= MAX_HEADERS) headers.clear();
      headers.set(encoded, header);
    }
    lastEncoded = encoded;
    lastHeader = header;
  }
  return { body: first + 1, signed: second, kid: header.kid, header, present };
}

/** The header segment decoded, when it is a plain RS256 header with a string `kid` or none. */
function readHeader(encoded: string, buffer: Buffer): (JWTHeaderParameters & { kid?: string }) | undefined {
  const length = decodeStrict(encoded, buffer, 0);
  if (length < 0) return undefined;
  const header = bytesJson(buffer, 0, length);
  if (!isJsonObject(header)) return undefined;
  // `crit` and `b64` change how a JWS is read: jose handles those (and refuses what it must).
  if (header.alg !== 'RS256' || 'crit' in header || 'b64' in header) return undefined;
  if (header.kid !== undefined && typeof header.kid !== 'string') return undefined;
  // Frozen: one object serves every token with this header (jose's key getter only reads it).
  return Object.freeze(header) as JWTHeaderParameters & { kid?: string };
}

function unexpected(payload: JWTPayload, claim: string): never {
  throw new joseErrors.JWTClaimValidationFailed(
    `unexpected "${claim}" claim value`,
    payload,
    claim,
    'check_failed',
  );
}

function numericDate(payload: JWTPayload, claim: 'iat' | 'nbf' | 'exp'): number | undefined {
  const value = payload[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number')
    throw new joseErrors.JWTClaimValidationFailed(
      `"${claim}" claim must be a number`,
      payload,
      claim,
      'invalid',
    );
  return value;
}

/**
 * jose's `validateClaimsSet` for the options the fast path takes ({@link fastOptions}), in its order
 * and with its errors: required claims present (`iss` when an issuer is set, `aud` when an audience
 * is, then `requiredClaims`), the issuer, the audience, then `iat`, `nbf` and `exp` with the tolerance.
 */
function checkClaims(payload: JWTPayload, options: VerifyOptions, present: readonly string[]): JWTPayload {
  const { issuer, audience } = options;
  for (const claim of present) {
    if (!Object.hasOwn(payload, claim))
      throw new joseErrors.JWTClaimValidationFailed(
        `missing required "${claim}" claim`,
        payload,
        claim,
        'missing',
      );
  }
  if (
    issuer !== undefined &&
    !(typeof issuer === 'string' ? issuer === payload.iss : issuer.includes(payload.iss!))
  )
    unexpected(payload, 'iss');
  if (audience !== undefined) {
    const wanted = typeof audience === 'string' ? [audience] : audience;
    const aud = payload.aud;
    const ok =
      typeof aud === 'string'
        ? wanted.includes(aud)
        : Array.isArray(aud)
          ? wanted.some((a) => aud.includes(a))
          : false;
    if (!ok) unexpected(payload, 'aud');
  }
  const tolerance = options.clockTolerance === undefined ? 0 : (options.clockTolerance as number);
  const now = Math.floor(
    (options.currentDate === undefined ? Date.now() : options.currentDate.getTime()) / 1000,
  );
  numericDate(payload, 'iat');
  const nbf = numericDate(payload, 'nbf');
  if (nbf !== undefined && nbf > now + tolerance)
    throw new joseErrors.JWTClaimValidationFailed(
      '"nbf" claim timestamp check failed',
      payload,
      'nbf',
      'check_failed',
    );
  const exp = numericDate(payload, 'exp');
  if (exp !== undefined && exp <= now - tolerance)
    throw new joseErrors.JWTExpired('"exp" claim timestamp check failed', payload, 'exp', 'check_failed');
  return payload;
}

/**
 * The fast path once the key is known: the claims, jose's error thrown, or undefined when the payload
 * or signature segment is not canonical base64url, or the payload not strict UTF-8 JSON (jose then
 * decides, in its own order). Both segments are decoded before the signature is checked, so the
 * signing input is the token's own ASCII text.
 */
function verifyWith(
  token: string,
  parsed: Parsed,
  key: KeyObject,
  options: VerifyOptions,
): JWTPayload | undefined {
  const { body, signed } = parsed;
  const buffer = room(token);
  // [0, signed): the signing input; then the signature's bytes; then the payload's.
  const signatureLength = decodeStrict(token.slice(signed + 1), buffer, signed);
  if (signatureLength < 0) return undefined;
  const payloadAt = signed + signatureLength;
  const payloadLength = decodeStrict(token.slice(body, signed), buffer, payloadAt);
  if (payloadLength < 0) return undefined;
  buffer.write(token, 0, signed, 'latin1');
  if (!rsaVerify('sha256', view(buffer, 0, signed), key, view(buffer, signed, signatureLength)))
    throw new joseErrors.JWSSignatureVerificationFailed();
  const payload = bytesJson(buffer, payloadAt, payloadLength);
  if (payload === undefined) return undefined;
  if (!isJsonObject(payload))
    throw new joseErrors.JWTInvalid('JWT Claims Set must be a top-level JSON object');
  return checkClaims(payload as JWTPayload, options, parsed.present);
}

/**
 * jose's `jwtVerify` for RS256 tokens, with the signature checked by node:crypto's synchronous RSA
 * verify instead of WebCrypto (three times the CPU here, on libuv's thread pool), and the claims by
 * the same checks as jose's, in the same order, with the same errors. The key is the one jose's JWKS
 * getter selects for the header (`kid`, key type, `alg` of the key, `use`). The fast path takes a
 * token only when it can decide it exactly as jose would: three non-empty strict base64url segments,
 * a header of strict UTF-8 JSON with `alg` RS256 and no `crit` or `b64`, an extractable 2048-bit or
 * larger RS256 verification key, options it knows (`issuer`, `audience`, `algorithms` allowing RS256,
 * `clockTolerance` in seconds, `requiredClaims`, `currentDate`), and, once the signature holds, a
 * payload of strict UTF-8 JSON. Anything else goes to jose's `jwtVerify` whole, so nothing is
 * accepted here that jose would refuse, and what is refused is refused with jose's error.
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
  options: VerifyOptions,
): Promise<{ payload: JWTPayload }> {
  const parsed = parse(token, options);
  if (parsed === undefined) return jwtVerify(token, getKey as never, options);
  const key = await getKey(parsed.header);
  const nodeKey = rs256Key(key);
  if (nodeKey === null) return jwtVerify(token, key as never, options);
  const payload = verifyWith(token, parsed, nodeKey, options);
  return payload === undefined ? jwtVerify(token, key as never, options) : { payload };
}

/**
 * {@link verifyJwt} without a promise, for a token whose key jose already chose once (`known`):
 * the claims, or jose's error thrown; undefined when it cannot decide at once (no known key for the
 * header, or a token the fast path leaves to jose): then call {@link verifyJwt}.
 *
 * @example
 * ```ts
 * const payload = verifyJwtNow(token, (kid) => jwks.knownKey(kid), options) ??
 *   (await verifyJwt(token, (header) => jwks.getKey(header), options)).payload;
 * ```
 */
export function verifyJwtNow(token: string, known: KnownKey, options: VerifyOptions): JWTPayload | undefined {
  const parsed = parse(token, options);
  if (parsed === undefined) return undefined;
  const nodeKey = rs256Key(known(parsed.kid));
  if (nodeKey === null) return undefined;
  return verifyWith(token, parsed, nodeKey, options);
}
