// jose by subpath, not its root export: see jwt-verify.ts.
import type { JSONWebKeySet, JWTHeaderParameters } from 'jose';
import * as joseErrors from 'jose/errors';
import { createLocalJWKSet } from 'jose/jwks/local';
import { KindeAuthError } from './errors.js';
import { tracedProvider } from './telemetry.js';

/** Options of {@link createJwksCache}. */
export interface JwksCacheOptions {
  /** After this many milliseconds the key set is refetched in the background; requests never wait for it. Default 10 min. */
  maxAgeMs?: number;
  /**
   * An unknown `kid` refetches at most once per this many milliseconds. Default 30 s. It also caps
   * the wait after failed fetches while no key set has loaded yet (1 s, doubling per failure).
   */
  cooldownMs?: number;
  /** A fetch gives up after this many milliseconds. Default 5 s. */
  timeoutMs?: number;
  /** Called when a refetch removed a key, so that anything verified with it can be forgotten. */
  onKeysRemoved?: () => void;
  /** The clock (milliseconds) of the key set's age, the cooldown and the backoff. Default `Date.now`. */
  now?: () => number;
}

/** The issuer's signing keys, cached. */
export interface JwksCache {
  /** For jose's `jwtVerify`: the key for a token header. */
  getKey(header: JWTHeaderParameters): ReturnType<KeyGetter>;
  /**
   * The key `getKey` answered before for an RS256 header with this `kid` (undefined: none), from
   * the key set in use; undefined when it has not answered one yet. Synchronous: never fetches.
   * Calls {@link tick}.
   */
  knownKey(kid: string | undefined): unknown;
  /**
   * Starts a background refresh when the set is stale; never waits. Cheap: call it on every use.
   * `at` is the cache's clock read by the caller (`now()`), to spare a second read.
   */
  tick(at?: number): void;
  /** When the key set was last fetched (ms since the epoch, 0 before the first), and how many keys it has. */
  state(): { fetchedAt: number; keys: number };
}

type KeyGetter = ReturnType<typeof createLocalJWKSet>;

/**
 * A JWKS cache made for outages: the first use fetches; afterwards a stale set is refreshed in the
 * background while the cached keys keep serving, so a provider that is down stalls no request whose
 * key is known. An unknown `kid` triggers at most one fetch per cooldown, one fetch at a time.
 */
export function createJwksCache(uri: () => Promise<URL>, options: JwksCacheOptions = {}): JwksCache {
  const maxAgeMs = options.maxAgeMs ?? 600_000;
  const cooldownMs = options.cooldownMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const now = options.now ?? Date.now;
  let keys: KeyGetter | undefined;
  let kids = new Set<string>();
  // What `keys` answered for RS256 headers, by `kid`: jose's choice depends on nothing else of the
  // header. Replaced with the key set, so a key that left the set is never answered from here.
  let known = new Map<string | undefined, unknown>();
  let fetchedAt = 0;
  let attemptedAt = 0;
  let inflight: Promise<void> | undefined;
  // Before any key set has loaded, failed fetches back off (1 s, doubling, capped by the cooldown):
  // requests meanwhile fail at once instead of each starting a fetch of an unreachable provider.
  const firstBackoffMs = Math.min(1_000, cooldownMs);
  let backoffMs = 0;
  let retryAt = 0;

  async function fetchKeys(): Promise<void> {
    attemptedAt = now();
    let jwks: JSONWebKeySet;
    try {
      const response = await fetch(await uri(), {
        signal: AbortSignal.timeout(timeoutMs),
        headers: { accept: 'application/json' },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      jwks = (await response.json()) as JSONWebKeySet;
      if (!Array.isArray(jwks?.keys)) throw new Error('no "keys" array');
    } catch (error) {
      throw new KindeAuthError(
        'ERR_PROVIDER_UNAVAILABLE',
        'The signing keys could not be fetched',
        {},
        { cause: error },
      );
    }
    const next = new Set(jwks.keys.map((k) => String(k.kid)));
    const removed = [...kids].some((kid) => !next.has(kid));
    keys = createLocalJWKSet(jwks);
    known = new Map();
    kids = next;
    fetchedAt = now();
    if (removed) options.onKeysRemoved?.();
  }

  function refresh(): Promise<void> {
    inflight ??= tracedProvider('jwks', fetchKeys)
      .then(
        () => {
          backoffMs = 0;
        },
        (error: unknown) => {
          backoffMs = backoffMs === 0 ? firstBackoffMs : Math.min(cooldownMs, backoffMs * 2);
          retryAt = now() + backoffMs;
          throw error;
        },
      )
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  /** The first key set: fetched, or, within the backoff after a failed fetch, refused at once. */
  function firstKeys(): Promise<void> {
    if (inflight === undefined && now() < retryAt) {
      return Promise.reject(
        new KindeAuthError('ERR_PROVIDER_UNAVAILABLE', 'The signing keys could not be fetched moments ago', {
          retryInMs: String(retryAt - now()),
        }),
      );
    }
    return refresh();
  }

  function tick(at = now()): void {
    if (keys !== undefined && at - fetchedAt > maxAgeMs && at - attemptedAt > cooldownMs)
      refresh().catch(() => {});
  }

  return {
    tick,
    state: () => ({ fetchedAt, keys: kids.size }),
    knownKey(kid) {
      tick();
      return known.get(kid);
    },
    async getKey(header) {
      if (keys === undefined) await firstKeys();
      else tick();
      try {
        const set = keys!;
        const key = await set(header);
        // Remembered only for the set that chose it, and only for a header jose read as RS256 with
        // that `kid` (a string or none: anything else matches no key).
        if (
          set === keys &&
          header.alg === 'RS256' &&
          (header.kid === undefined || typeof header.kid === 'string')
        )
          known.set(header.kid, key);
        return key;
      } catch (error) {
        const unknownKid = error instanceof joseErrors.JWKSNoMatchingKey;
        if (!unknownKid || now() - attemptedAt < cooldownMs) throw error;
        await refresh();
        return keys!(header);
      }
    },
  };
}
