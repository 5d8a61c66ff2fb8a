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
import type { MaybePromise, SessionStore, StoreEntry } from './store.js';

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

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/** Runs `next` on a value that may or may not be a promise, without making a promise when it is not. */
export function then<T, R>(value: MaybePromise<T>, next: (v: T) => MaybePromise<R>): MaybePromise<R> {
  return isPromise(value) ? value.then(next) : next(value);
}

/** Session lifecycle: read (with rolling idle timeout and single-flight refresh), create, destroy. */
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

  async function refresh(id: string, record: SessionRecord): Promise<SessionRecord | undefined> {
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
    };
    await store.set(SESSION_PREFIX + id, next, ttlFor(next));
    return next;
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
      return then(store.delete(SESSION_PREFIX + id), () => undefined);
    }
    if (record.accessExpiresAt - REFRESH_SKEW_MS <= now) {
      return refreshOnce(id, record).then((fresh) => (fresh ? { id, record: fresh, rotated } : undefined));
    }
    const loaded: LoadedSession = { id, record, rotated };
    if (entry.expiresAt - now < config.idleTimeoutMs - touchIntervalMs) {
      return then(store.touch(SESSION_PREFIX + id, ttlFor(record)), () => loaded);
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
      return then(store.get(SESSION_PREFIX + id), (entry) => admit(id, entry, unsigned.rotated));
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
      const current = (await store.get(SESSION_PREFIX + id))?.value as SessionRecord | undefined;
      if (current) await store.set(SESSION_PREFIX + id, { ...current, profile }, ttlFor(current));
      return profile;
    },
    destroy(id) {
      return store.delete(SESSION_PREFIX + id);
    },
  };
}
