import type { JWTVerifyOptions } from 'jose';
import * as joseErrors from 'jose/errors';
import { GenerationalCache } from './cache.js';
import type { KindeConfig } from './config.js';
import { KindeAuthError } from './errors.js';
import { createJwksCache, type JwksCacheOptions } from './jwks.js';
import { verifyJwt, verifyJwtNow } from './jwt-verify.js';
import type { Claims } from './session/record.js';
import type { MaybePromise } from './session/store.js';

/** Verifies Kinde access tokens locally against the issuer's JWKS. */
export interface TokenVerifier {
  /**
   * Verifies an access token (signature, RS256, issuer, exp/nbf, audience, and that it is an access
   * token at all: see {@link accessTokenProblem}); throws `ERR_TOKEN_INVALID`, or
   * `ERR_PROVIDER_UNAVAILABLE` when no signing key could be fetched.
   */
  verify(token: string): Promise<Claims>;
  /**
   * The same, answered from a bounded cache of verified tokens while they are unexpired. A token
   * whose signing key is already known is verified synchronously: its claims are returned, or the
   * refusal thrown, without a promise.
   */
  verifyCached(token: string): MaybePromise<Claims>;
  /**
   * Verifies `token` without a promise when it can be decided at once (its signing key already
   * known, a plain RS256 token of canonical base64url: jwt-verify.ts's `verifyJwtNow`), and
   * remembers it as {@link verifyCached} does: its claims, or the refusal thrown (`ERR_TOKEN_INVALID`);
   * undefined when only {@link verifyCached} can decide. Does not look in the cache first.
   */
  verifyNow(token: string): Claims | undefined;
  /** The claims of `token` when it is in the cache and still valid; never verifies (a stale JWKS is refreshed in the background). */
  peek(token: string): Claims | undefined;
  /**
   * Whether the cache holds exactly these claims for `token` (they were remembered, not just
   * verified); no clock read, no validity check. For a caller that has just verified the token.
   */
  remembers(token: string, claims: Claims): boolean;
  /** The signing keys' cache: when fetched, how many (for `app.kinde.health()`). */
  jwksState?(): { fetchedAt: number; keys: number };
}

/** Options of the verifier. */
export interface TokenVerifierOptions extends JwksCacheOptions {
  /** Verified tokens remembered (least recently used first out). Default 10,000. */
  cacheEntries?: number;
  /** Seconds of leeway for `exp` and `nbf`. Default 5. */
  clockToleranceSeconds?: number;
}

interface Verified {
  /** The whole token: the cache is keyed by its signature's tail, so a hit must still match it all. */
  token: string;
  claims: Claims;
  /** Milliseconds: past this the token is expired even with the tolerance. */
  until: number;
  /** Milliseconds: before this the token is not yet valid. */
  from: number;
}

function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'the token is not valid yet';
    if (error.claim === 'iss') return 'the token was issued by another issuer';
    if (error.claim === 'aud') return 'the token is not meant for this API (audience)';
    return `the "${error.claim}" claim is invalid`;
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'the token is not signed with RS256';
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'the token is signed with an unknown key';
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid)
    return 'the token is malformed';
  return 'the token is invalid';
}

/** Claims only an OIDC ID token carries (OIDC Core 3.1.3.6, 3.3.2.11, 2); Kinde's access tokens have none. */
const ID_TOKEN_CLAIMS = ['at_hash', 'c_hash', 'nonce', 'auth_time'] as const;

function audiences(claims: Claims): string[] {
  const aud = claims.aud;
  if (aud === undefined) return [];
  return Array.isArray(aud) ? aud.map(String) : [String(aud)];
}

/**
 * Why verified claims are not an access token meant for this app, or undefined when they are.
 * An ID token proves a login to its client; it never authorises API calls. With an audience
 * configured, jose has already required one of it in `aud`. Without one, only tokens that name no
 * API (`aud: []`, Kinde's default) and were issued to this very client (`azp`), or to one listed in
 * `bearer.clients`, are this app's.
 */
export function accessTokenProblem(
  claims: Claims,
  config: Pick<KindeConfig, 'audience' | 'clientId'> & { bearer: Pick<KindeConfig['bearer'], 'clients'> },
): string | undefined {
  if (ID_TOKEN_CLAIMS.some((name) => claims[name] !== undefined)) {
    return 'an ID token is not a bearer credential; send an access token';
  }
  const aud = audiences(claims);
  if (aud.includes(config.clientId) && !config.audience.includes(config.clientId)) {
    return 'an ID token is not a bearer credential; send an access token';
  }
  if (config.audience.length > 0) return undefined;
  if (aud.length > 0) {
    return 'the token is meant for another API (aud); this app accepts one only when KINDE_AUDIENCE names it';
  }
  const azp = claims.azp;
  if (azp === config.clientId || (typeof azp === 'string' && config.bearer.clients.includes(azp))) {
    return undefined;
  }
  return 'the token was issued to another application (azp)';
}

/**
 * A 30-bit number from the five characters before a token's last one: for an RS256 token, 30 bits
 * of its signature (the last character carries only 2). Characters past the token's start count as
 * 0, so any string has one. The key of the verifier's cache and of its admission filter.
 */
function fingerprint(token: string): number {
  const n = token.length;
  return (
    (token.charCodeAt(n - 2) & 63) |
    ((token.charCodeAt(n - 3) & 63) << 6) |
    ((token.charCodeAt(n - 4) & 63) << 12) |
    ((token.charCodeAt(n - 5) & 63) << 18) |
    ((token.charCodeAt(n - 6) & 63) << 24)
  );
}

/**
 * RS256 only, exact issuer, the configured audience when there is one, a few seconds of clock
 * tolerance, access tokens only ({@link accessTokenProblem}). Keys come from a JWKS cache that keeps
 * serving while the provider is down.
 */
export function createTokenVerifier(
  config: KindeConfig,
  jwksUri: () => Promise<URL>,
  options: TokenVerifierOptions = {},
): TokenVerifier {
  const tolerance = options.clockToleranceSeconds ?? 5;
  const maxEntries = options.cacheEntries ?? 10_000;
  // Keyed by a 30-bit number read off the signature's last characters ({@link fingerprint}): no
  // string is cut or hashed on a request (a 40-character slice and its hash cost about 600
  // instructions). The stored token is compared whole, so two tokens that share a key only take
  // each other's place.
  const verified = new GenerationalCache<number, Verified>(maxEntries);
  const now = options.now ?? Date.now;
  const jwks = createJwksCache(jwksUri, { ...options, onKeysRemoved: () => verified.clear() });
  const verifyOptions: JWTVerifyOptions & { algorithms: string[] } = {
    issuer: config.issuerUrl,
    algorithms: ['RS256'],
    clockTolerance: tolerance,
    requiredClaims: ['exp'],
    ...(config.audience.length > 0 ? { audience: config.audience } : {}),
  };

  /** The options of one check: jose reads the system clock unless told the time; an injected clock is passed on. */
  const checksNow = () =>
    now === Date.now ? verifyOptions : { ...verifyOptions, currentDate: new Date(now()) };

  /** The claims when they are an access token for this app; else the refusal. */
  function accepted(payload: Claims): Claims {
    const problem = accessTokenProblem(payload, config);
    if (problem !== undefined) {
      throw new KindeAuthError('ERR_TOKEN_INVALID', `The access token was rejected: ${problem}`, {
        reason: problem,
      });
    }
    return payload;
  }

  function refusal(error: unknown): KindeAuthError {
    if (error instanceof KindeAuthError) return error;
    return new KindeAuthError('ERR_TOKEN_INVALID', `The access token was rejected: ${describe(error)}`, {
      reason: describe(error),
    });
  }

  async function verify(token: string): Promise<Claims> {
    try {
      // jose's checks, with the RSA signature verified by node:crypto (see jwt-verify.ts).
      const { payload } = await verifyJwt(token, (header) => jwks.getKey(header), checksNow());
      return accepted(payload);
    } catch (error) {
      throw refusal(error);
    }
  }

  /**
   * The same checks without a promise when the token's key is known (jwt-verify.ts's `verifyJwtNow`):
   * the claims, remembered, or the refusal thrown; undefined when only {@link verify} can decide.
   */
  function verifyNow(token: string): Claims | undefined {
    let payload: Claims | undefined;
    try {
      payload = verifyJwtNow(token, jwks.knownKey, checksNow());
      if (payload === undefined) return undefined;
      accepted(payload);
    } catch (error) {
      throw refusal(error);
    }
    return remember(token, payload);
  }

  // Admission on the second sight (the "doorkeeper" of TinyLFU caches): a token verified for the
  // first time leaves only a 30-bit fingerprint of its signature here (the last character of an
  // RS256 signature carries 2 bits, so the five before it), and is remembered when it is
  // verified again. So a stream of single-use tokens neither evicts the tokens in use nor keeps each
  // one's claims alive long enough to reach V8's old generation (whose collections then cost every
  // request); a reused token pays one more signature check, once. A fingerprint shared by two tokens
  // only admits the second one early: the cache still compares the whole token.
  const seenOnce = new Set<number>();

  function remember(token: string, claims: Claims): Claims {
    if (maxEntries === 0) return claims;
    const mark = fingerprint(token);
    if (!seenOnce.delete(mark)) {
      if (seenOnce.size >= maxEntries) seenOnce.clear();
      seenOnce.add(mark);
      return claims;
    }
    const exp = typeof claims.exp === 'number' ? claims.exp : 0;
    const nbf = typeof claims.nbf === 'number' ? claims.nbf : 0;
    verified.set(mark, {
      token,
      claims,
      until: (exp + tolerance) * 1000,
      from: (nbf - tolerance) * 1000,
    });
    return claims;
  }

  /** Verified and remembered: synchronously when the token's key is known, else a promise. */
  function verifyAndRemember(token: string): MaybePromise<Claims> {
    const claims = verifyNow(token);
    if (claims !== undefined) return claims;
    return verify(token).then((checked) => remember(token, checked));
  }

  /** The cache's entry for exactly this token (compared whole), or undefined. */
  function cached(token: string): Verified | undefined {
    if (maxEntries === 0) return undefined;
    const hit = verified.get(fingerprint(token));
    return hit !== undefined && hit.token === token ? hit : undefined;
  }

  /** Whether a cached token is valid now: one clock read, shared with the key set's staleness check. */
  function current(hit: Verified): boolean {
    const at = now();
    jwks.tick(at);
    return at < hit.until && at >= hit.from;
  }

  return {
    verify,
    verifyNow,
    jwksState: () => jwks.state(),
    peek(token) {
      const hit = cached(token);
      return hit !== undefined && current(hit) ? hit.claims : undefined;
    },
    remembers(token, claims) {
      return cached(token)?.claims === claims;
    },
    verifyCached(token) {
      const hit = cached(token);
      if (hit !== undefined) {
        if (current(hit)) return hit.claims;
        verified.delete(fingerprint(token));
      }
      return verifyAndRemember(token);
    },
  };
}
