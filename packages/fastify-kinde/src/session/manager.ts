import type { FastifyReply } from 'fastify';
import type { KindeConfig } from '../config.js';
import { KindeAuthError } from '../errors.js';
import type { OidcClient, ProviderTokens } from '../oidc.js';
import type { TokenVerifier } from '../tokens.js';
import {
  type Claims,
  type KindeUserProfile,
  randomId,
  type SessionRecord,
  userFromClaims,
} from './record.js';
import type { CookieSigner } from './signer.js';
import { andThen, type MaybePromise, type SessionStore, type StoreEntry } from './store.js';

/** A session read for one request. */
export interface LoadedSession {
  id: string;
  record: SessionRecord;
  /** The cookie was signed with an older secret: it should be signed again with the current one. */
  rotated: boolean;
}

/** Refresh the access token this long before it expires, so a handler never holds a dying token. */
const REFRESH_SKEW_MS = 5_000;
const SESSION_PREFIX = 'sess:';
/** How long one instance may hold a session's refresh lease: longer than a provider round trip takes. */
const REFRESH_LEASE_MS = 15_000;
/** How long past the lease a waiting instance keeps waiting (to take over a lease whose holder died). */
const REFRESH_WAIT_SLACK_MS = 2_000;
/** How often an instance waiting for another one's refresh reads the store. */
const REFRESH_POLL_MS = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The same tokens: nobody refreshed in between. */
function sameTokens(a: SessionRecord, b: SessionRecord): boolean {
  return (
    a.accessToken === b.accessToken &&
    a.refreshToken === b.refreshToken &&
    a.accessExpiresAt === b.accessExpiresAt
  );
}

/**
 * Refresh an expired token always; one about to expire unless it was refreshed moments ago (Kinde
 * answers a refresh with the same access token while it is unexpired, and asking again on every
 * request of its last seconds would only load the provider).
 */
function needsRefresh(record: SessionRecord, now: number): boolean {
  if (record.accessExpiresAt <= now) return true;
  if (record.accessExpiresAt - REFRESH_SKEW_MS > now) return false;
  return record.refreshedAt === undefined || now - record.refreshedAt >= REFRESH_SKEW_MS;
}

/**
 * Session lifecycle: read (with rolling idle timeout and single-flight refresh, in process and, with a
 * store that offers leases, across processes), create, destroy.
 */
export interface SessionManager {
  readonly cookieName: string;
  /** Reads the session named by a signed cookie value; undefined when absent, forged, expired or ended. */
  load(signedCookie: string): MaybePromise<LoadedSession | undefined>;
  /** Stores a new session under a new random id and sets its cookie. */
  create(reply: FastifyReply, tokens: ProviderTokens, accessClaims: Claims): Promise<string>;
  /** Deletes the session from the store. */
  destroy(id: string): MaybePromise<boolean>;
  /** The user profile of a session, fetched from the provider once and kept in the session. */
  profile(id: string, record: SessionRecord): Promise<KindeUserProfile>;
  /** Sets the session cookie for `id`. */
  setCookie(reply: FastifyReply, id: string): void;
  /** Cookie options shared by set and clear. */
  cookieOptions(): { path: string; httpOnly: boolean; sameSite: 'lax'; secure: boolean };
}

interface Deps {
  config: KindeConfig;
  store: SessionStore;
  signer: CookieSigner;
  oidc: OidcClient;
  verifier: TokenVerifier;
}

function expiresAtMs(claims: Claims, expiresIn: number | undefined): number {
  if (typeof claims.exp === 'number') return claims.exp * 1000;
  return Date.now() + (expiresIn ?? 0) * 1000;
}

/** Builds the session manager. One per plugin instance. */
export function createSessionManager({ config, store, signer, oidc, verifier }: Deps): SessionManager {
  const cookieName = config.secureCookies ? '__Host-kinde_session' : 'kinde_session';
  const touchIntervalMs = Math.min(60_000, config.idleTimeoutMs / 2);
  const refreshing = new Map<string, Promise<SessionRecord | undefined>>();

  const ttlFor = (record: SessionRecord) =>
    Math.min(config.idleTimeoutMs, record.createdAt + config.absoluteTimeoutMs - Date.now());

  const current = async (id: string) =>
    (await store.get(SESSION_PREFIX + id))?.value as SessionRecord | undefined;

  /** Stores `next` only while the session still exists, so a refresh racing a logout cannot revive it. */
  async function save(id: string, next: SessionRecord): Promise<boolean> {
    if (store.replace) return store.replace(SESSION_PREFIX + id, next, ttlFor(next));
    if ((await store.get(SESSION_PREFIX + id)) === undefined) return false;
    await store.set(SESSION_PREFIX + id, next, ttlFor(next));
    return true;
  }

  /** Trades `record`'s refresh token for new tokens and stores them. */
  async function refreshWith(id: string, record: SessionRecord): Promise<SessionRecord | undefined> {
    if (record.refreshToken === null) {
      await store.delete(SESSION_PREFIX + id);
      return undefined;
    }
    let tokens: ProviderTokens;
    let accessClaims: Claims;
    try {
      tokens = await oidc.refresh(record.refreshToken);
      accessClaims = await verifier.verify(tokens.accessToken);
      if (accessClaims.sub !== record.accessClaims.sub) {
        throw new KindeAuthError('ERR_TOKEN_INVALID', 'The refreshed token names another subject');
      }
    } catch (error) {
      // The provider being unreachable is not the user's fault: keep the session for a later try.
      if (error instanceof KindeAuthError && error.code === 'ERR_PROVIDER_UNAVAILABLE') throw error;
      // Refused. When someone else refreshed meanwhile, their result stands: a loser never ends a session.
      const latest = await current(id);
      if (latest !== undefined && !sameTokens(latest, record)) return latest;
      await store.delete(SESSION_PREFIX + id);
      return undefined;
    }
    const idClaims = tokens.idClaims ?? record.idClaims;
    const next: SessionRecord = {
      ...record,
      user: userFromClaims(idClaims),
      accessToken: tokens.accessToken,
      accessClaims,
      accessExpiresAt: expiresAtMs(accessClaims, tokens.expiresIn),
      idToken: tokens.idToken ?? record.idToken,
      idClaims,
      // A response without a new refresh token keeps the old one.
      refreshToken: tokens.refreshToken ?? record.refreshToken,
      refreshedAt: Date.now(),
    };
    return (await save(id, next)) ? next : undefined;
  }

  /**
   * One refresh across every process sharing the store, when it offers leases: the holder asks the
   * provider; the others poll the store for its result. Without leases, the in-process flight suffices.
   */
  async function refresh(id: string, record: SessionRecord): Promise<SessionRecord | undefined> {
    if (store.lock === undefined) return refreshWith(id, record);
    const key = SESSION_PREFIX + id;
    const deadline = Date.now() + REFRESH_LEASE_MS + REFRESH_WAIT_SLACK_MS;
    for (;;) {
      const token = await store.lock(key, REFRESH_LEASE_MS);
      if (token !== undefined) {
        try {
          // Read under the lease: a holder before us may have refreshed already.
          const latest = await current(id);
          if (latest === undefined || !sameTokens(latest, record)) return latest;
          return await refreshWith(id, latest);
        } finally {
          try {
            await store.unlock?.(key, token);
          } catch {
            // The lease expires by itself.
          }
        }
      }
      if (Date.now() > deadline) {
        throw new KindeAuthError(
          'ERR_PROVIDER_UNAVAILABLE',
          'Another instance is refreshing this session and has not finished',
        );
      }
      await sleep(REFRESH_POLL_MS);
      const latest = await current(id);
      if (latest === undefined || !sameTokens(latest, record)) return latest;
    }
  }

  function refreshOnce(id: string, record: SessionRecord): Promise<SessionRecord | undefined> {
    let flight = refreshing.get(id);
    if (flight === undefined) {
      flight = refresh(id, record).finally(() => refreshing.delete(id));
      refreshing.set(id, flight);
    }
    return flight;
  }

  function admit(
    id: string,
    entry: StoreEntry<object> | undefined,
    rotated: boolean,
  ): MaybePromise<LoadedSession | undefined> {
    if (entry === undefined) return undefined;
    const record = entry.value as SessionRecord;
    const now = Date.now();
    if (now - record.createdAt >= config.absoluteTimeoutMs) {
      return andThen(store.delete(SESSION_PREFIX + id), () => undefined);
    }
    if (needsRefresh(record, now)) {
      return refreshOnce(id, record).then(
        (fresh) => (fresh ? { id, record: fresh, rotated } : undefined),
        (error: unknown) => {
          // The provider is down but the token has a few seconds left: serve with it meanwhile.
          const down = error instanceof KindeAuthError && error.code === 'ERR_PROVIDER_UNAVAILABLE';
          if (down && record.accessExpiresAt > Date.now()) return { id, record, rotated };
          throw error;
        },
      );
    }
    const loaded: LoadedSession = { id, record, rotated };
    if (entry.expiresAt - now < config.idleTimeoutMs - touchIntervalMs) {
      return andThen(store.touch(SESSION_PREFIX + id, ttlFor(record)), () => loaded);
    }
    return loaded;
  }

  return {
    cookieName,
    cookieOptions() {
      return { path: '/', httpOnly: true, sameSite: 'lax', secure: config.secureCookies };
    },
    load(signedCookie) {
      const unsigned = signer.unsign(signedCookie);
      if (unsigned === undefined) return undefined;
      const id = unsigned.value;
      return andThen(store.get(SESSION_PREFIX + id), (entry) => admit(id, entry, unsigned.rotated));
    },
    async create(reply, tokens, accessClaims) {
      const idClaims = tokens.idClaims ?? {};
      const now = Date.now();
      const record: SessionRecord = {
        v: 1,
        user: userFromClaims(idClaims),
        accessToken: tokens.accessToken,
        accessClaims,
        accessExpiresAt: expiresAtMs(accessClaims, tokens.expiresIn),
        idToken: tokens.idToken ?? null,
        idClaims,
        refreshToken: tokens.refreshToken ?? null,
        createdAt: now,
      };
      const id = randomId();
      await store.set(SESSION_PREFIX + id, record, ttlFor(record));
      this.setCookie(reply, id);
      return id;
    },
    setCookie(reply, id) {
      reply.setCookie(cookieName, signer.sign(id), {
        ...this.cookieOptions(),
        maxAge: Math.floor(config.absoluteTimeoutMs / 1000),
      });
    },
    async profile(id, record) {
      if (record.profile) return record.profile;
      const profile = await oidc.userProfile(record.accessToken);
      const latest = await current(id);
      if (latest) await save(id, { ...latest, profile });
      return profile;
    },
    destroy(id) {
      return store.delete(SESSION_PREFIX + id);
    },
  };
}
