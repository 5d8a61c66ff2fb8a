import { GenerationalCache } from './cache.js';
import { KindeAuthError } from './errors.js';
import type { OidcClient, ProviderTokens } from './oidc.js';
import { createBreaker } from './refresh-breaker.js';
import { expiresAtMs, type SessionAccess, type SessionRefresher } from './session/manager.js';
import { type Claims, type SessionRecord, userFromClaims } from './session/record.js';
import type { TokenVerifier } from './tokens.js';

interface Deps {
  oidc: Pick<OidcClient, 'refresh'>;
  verifier: Pick<TokenVerifier, 'verify'>;
  /** The clock (milliseconds) of expiry, backoff and the breaker. Default `Date.now`. */
  now?: () => number;
}

/** Renew this long before the access token expires, so a handler never holds a dying token. */
const SKEW_MS = 5_000;
/**
 * The most one refresh may take, whatever it waits for: discovery and the token request are each
 * bounded by 10 s (oidc.ts), a key fetch by 5 s (jwks.ts), a Redis call by its command timeout. Past
 * it the refresh is abandoned and stores nothing.
 */
const HOLD_MS = 20_000;
/** The cross-instance lease outlives HOLD_MS, so it is never taken over while its holder could still write. */
const LEASE_MS = HOLD_MS + 10_000;
/** How long a request waits for another instance's refresh before answering 503 (the next one reads it). */
const WAIT_MS = 10_000;
/** Per session, the first wait after the provider failed (doubling per failure); also the breaker's first open window. */
const BACKOFF_MS = 1_000;
/** Per session and overall, the longest wait between tries while the provider fails. */
const MAX_BACKOFF_MS = 30_000;
/** Failing sessions remembered (least recently used first out): bounds the memory of an outage. */
const TRACKED_SESSIONS = 10_000;
/** How often a request waiting for another instance's refresh reads the store. */
const POLL_MS = 20;
/** Without leases, how long a refused refresh waits for another process's result to be stored. */
const RECHECK_MS = 1_000;

/**
 * A real wait. The polls below and their deadlines are real time, not the injected clock: a test may
 * hold that clock still, and a wait on it would never end.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isProviderDown(error: unknown): boolean {
  return error instanceof KindeAuthError && error.code === 'ERR_PROVIDER_UNAVAILABLE';
}

/** A 503 that says the provider was not even asked (backoff, another instance busy, cut off). */
function notAsked(message: string, retryInMs: number): KindeAuthError {
  return new KindeAuthError('ERR_PROVIDER_UNAVAILABLE', message, {
    retryInMs: String(Math.max(0, Math.ceil(retryInMs))),
    notAsked: 'true',
  });
}

/** The same tokens: nobody refreshed in between. */
function sameTokens(a: SessionRecord, b: SessionRecord): boolean {
  return (
    a.accessToken === b.accessToken &&
    a.refreshToken === b.refreshToken &&
    a.accessExpiresAt === b.accessExpiresAt
  );
}

/** The stored record after a refresh: new tokens, the same session. */
function renewed(
  record: SessionRecord,
  tokens: ProviderTokens,
  accessClaims: Claims,
  now: number,
): SessionRecord {
  const idClaims = tokens.idClaims ?? record.idClaims;
  return {
    ...record,
    user: userFromClaims(idClaims),
    accessToken: tokens.accessToken,
    accessClaims,
    accessExpiresAt: expiresAtMs(accessClaims, tokens.expiresIn, now),
    idToken: tokens.idToken ?? record.idToken,
    idClaims,
    // A response without a new refresh token keeps the old one.
    refreshToken: tokens.refreshToken ?? record.refreshToken,
    refreshedAt: now,
  };
}

/**
 * The refresh policy between the session manager and the provider: when a session's tokens are
 * renewed, one refresh per session at a time (in process, and across processes with a store that
 * offers leases), each cut at a hard limit, and backoff while the provider fails: per session
 * (exponential, capped) and overall (a circuit breaker), in bounded memory.
 *
 * @example
 * ```ts
 * const refresher = createRefresher({ oidc, verifier });
 * const sessions = createSessionManager({ config, store, signer, refresher, fetchProfile });
 * ```
 */
export function createRefresher({ oidc, verifier, now = Date.now }: Deps): SessionRefresher {
  const flights = new Map<string, Promise<SessionRecord | undefined>>();
  const failing = new GenerationalCache<string, { failures: number; retryAt: number }>(TRACKED_SESSIONS);
  const breaker = createBreaker({ firstOpenMs: BACKOFF_MS, maxOpenMs: MAX_BACKOFF_MS });

  /** A refresh the provider refused: someone else's result stands when there is one; else the session ends. */
  async function refused(id: string, record: SessionRecord, access: SessionAccess, leased: boolean) {
    let latest = await access.read(id);
    // Without leases another process may have rotated the token and not stored its result yet.
    const until = Date.now() + (leased ? 0 : RECHECK_MS);
    while (latest !== undefined && sameTokens(latest, record) && Date.now() < until) {
      await sleep(POLL_MS * 5);
      latest = await access.read(id);
    }
    if (latest !== undefined && !sameTokens(latest, record)) return latest;
    await access.end(id);
    return undefined;
  }

  /** Trades `record`'s refresh token for new tokens and stores them, unless cut off meanwhile. */
  async function exchange(
    id: string,
    record: SessionRecord,
    access: SessionAccess,
    leased: boolean,
    live: () => boolean,
  ): Promise<SessionRecord | undefined> {
    if (record.refreshToken === null) {
      await access.end(id);
      return undefined;
    }
    let next: SessionRecord;
    try {
      const tokens = await oidc.refresh(record.refreshToken);
      const accessClaims = await verifier.verify(tokens.accessToken);
      if (accessClaims.sub !== record.accessClaims.sub) {
        throw new KindeAuthError('ERR_TOKEN_INVALID', 'The refreshed token names another subject');
      }
      next = renewed(record, tokens, accessClaims, now());
    } catch (error) {
      // The provider being unreachable is not the user's fault: keep the session for a later try.
      if (isProviderDown(error) || !live()) throw error;
      return refused(id, record, access, leased);
    }
    if (!live()) throw notAsked('The refresh took too long and was abandoned', 0);
    return (await access.save(id, next)) ? next : undefined;
  }

  /** Runs `work` for at most `HOLD_MS`; past it, `live()` turns false so that nothing is stored. */
  function held<T>(work: (live: () => boolean) => Promise<T>): Promise<T> {
    let live = true;
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        live = false;
        reject(notAsked('The refresh took too long and was abandoned', 0));
      }, HOLD_MS);
    });
    return Promise.race([work(() => live), limit]).finally(() => clearTimeout(timer));
  }

  /** One refresh across every process sharing a store with leases; the others poll for its result. */
  async function coordinated(id: string, record: SessionRecord, access: SessionAccess) {
    if (access.lock === undefined) return held((live) => exchange(id, record, access, false, live));
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const token = await access.lock(id, LEASE_MS);
      if (token !== undefined) {
        try {
          // Read under the lease: a holder before us may have refreshed already.
          const latest = await access.read(id);
          if (latest === undefined || !sameTokens(latest, record)) return latest;
          return await held((live) => exchange(id, latest, access, true, live));
        } finally {
          try {
            await access.unlock?.(id, token);
          } catch {
            // The lease expires by itself.
          }
        }
      }
      if (Date.now() > deadline) {
        throw notAsked('Another instance is refreshing this session and has not finished', POLL_MS);
      }
      await sleep(POLL_MS);
      const latest = await access.read(id);
      if (latest === undefined || !sameTokens(latest, record)) return latest;
    }
  }

  /** Counts a failure of the provider against the session: it waits longer before its next try. */
  function failed(id: string, now: number): void {
    const failures = (failing.get(id)?.failures ?? 0) + 1;
    const wait = Math.min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** Math.min(failures - 1, 20));
    failing.set(id, { failures, retryAt: now + wait * (0.8 + Math.random() * 0.4) });
  }

  function start(id: string, record: SessionRecord, access: SessionAccess) {
    const at = now();
    const waiting = failing.get(id);
    if (waiting !== undefined && at < waiting.retryAt) {
      return Promise.reject(notAsked('The identity provider failed moments ago', waiting.retryAt - at));
    }
    const admission = breaker.admit(at);
    if (admission === 'refused') {
      return Promise.reject(notAsked('The identity provider is failing', breaker.retryInMs(at)));
    }
    return coordinated(id, record, access).then(
      (result) => {
        failing.delete(id);
        breaker.succeeded();
        return result;
      },
      (error: unknown) => {
        const providerFailed =
          isProviderDown(error) && (error as KindeAuthError).details.notAsked === undefined;
        if (providerFailed) {
          failed(id, now());
          breaker.failed(now(), admission === 'probe');
        } else if (admission === 'probe') {
          breaker.released();
        }
        throw error;
      },
    );
  }

  return {
    due(record, now) {
      // Renew an expired token always; one about to expire unless it was renewed moments ago (Kinde
      // answers a refresh with the same access token while it is unexpired).
      if (record.accessExpiresAt <= now) return true;
      if (record.accessExpiresAt - SKEW_MS > now) return false;
      return record.refreshedAt === undefined || now - record.refreshedAt >= SKEW_MS;
    },
    refresh(id, record, access) {
      let flight = flights.get(id);
      if (flight === undefined) {
        flight = start(id, record, access).finally(() => flights.delete(id));
        flights.set(id, flight);
      }
      return flight;
    },
  };
}
