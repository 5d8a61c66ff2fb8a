import type { FastifyReply } from 'fastify';
import type { KindeConfig } from '../config.js';
import { setCookie } from '../cookies.js';
import { KindeAuthError } from '../errors.js';
import {
  type Claims,
  type KindeUserProfile,
  randomId,
  type SessionRecord,
  userFromClaims,
} from './record.js';
import type { CookieSigner } from './signer.js';
import { andThen, type MaybePromise, type SessionStore, type StoreEntry } from './store.js';
import { subOf, type UserIndex } from './user-index.js';

/** A session read for one request. */
export interface LoadedSession {
  id: string;
  record: SessionRecord;
  /** The cookie was signed with an older secret: it should be signed again with the current one. */
  rotated: boolean;
}

/**
 * What a load decided, filled in only when a caller passes one (debug mode): why no session came
 * of a cookie, and what became of a refresh. Codes, never values.
 */
export interface LoadTrace {
  anonymous?: 'bad_signature' | 'not_found' | 'absolute_timeout' | 'refresh_refused';
  refresh?: 'renewed' | 'provider_down_current_token_served';
}

/** Tokens a new session starts from (the provider's answer to a code exchange). */
export interface SessionTokens {
  accessToken: string;
  idToken: string | undefined;
  refreshToken: string | undefined;
  expiresIn: number | undefined;
  /** Verified ID-token claims. */
  idClaims: Record<string, unknown> | undefined;
}

/** What a refresher may do to one session's stored record. */
export interface SessionAccess {
  /** The stored record (the shared value, never a local copy, while a lease is held). */
  read(id: string): Promise<SessionRecord | undefined>;
  /** Stores `next` only while the session still exists; false when it is gone (a logout won). */
  save(id: string, next: SessionRecord): Promise<boolean>;
  /** Ends the session. */
  end(id: string): Promise<void>;
  /** A lease on the session across processes, when the store offers leases. */
  lock?(id: string, ttlMs: number): MaybePromise<string | undefined>;
  /** Gives the lease back. */
  unlock?(id: string, token: string): MaybePromise<void>;
}

/**
 * Renews a session's tokens: when, how often, and by whom (see `src/refresh.ts`). The session
 * manager only stores; it knows no provider.
 */
export interface SessionRefresher {
  /** True when the record's access token must be renewed before it is served. */
  due(record: SessionRecord, now: number): boolean;
  /**
   * The record to serve after renewing (possibly another instance's result), or undefined when the
   * session ended. Rejects with `ERR_PROVIDER_UNAVAILABLE` when the provider cannot be asked now.
   */
  refresh(id: string, record: SessionRecord, access: SessionAccess): Promise<SessionRecord | undefined>;
}

/**
 * Session lifecycle: read (with rolling idle timeout, and the access token renewed by the
 * refresher), create, destroy.
 */
export interface SessionManager {
  readonly cookieName: string;
  /** Reads the session named by a signed cookie value; undefined when absent, forged, expired or ended. */
  load(signedCookie: string, trace?: LoadTrace): MaybePromise<LoadedSession | undefined>;
  /**
   * A signed cookie value whose signature holds, as a ticket (its session id and store key), or
   * undefined when the signature fails. The same cookie gives the same ticket while the signer
   * remembers it, so the store key is made (and hashed) once, not on every request.
   */
  ticket(signedCookie: string): SessionTicket | undefined;
  /** `load` for a cookie already turned into a ticket. */
  loadTicket(ticket: SessionTicket, trace?: LoadTrace): MaybePromise<LoadedSession | undefined>;
  /** Stores a new session under a new random id and sets its cookie. */
  create(reply: FastifyReply, tokens: SessionTokens, accessClaims: Claims): Promise<string>;
  /** The session id a signed cookie value names (its signature checked), without reading the store. */
  idOf(signedCookie: string): string | undefined;
  /** Deletes the session from the store. */
  destroy(id: string): MaybePromise<boolean>;
  /** Deletes the session from the store and answers the record it held (its tokens, to revoke them). */
  take(id: string): Promise<SessionRecord | undefined>;
  /** The user profile of a session, fetched from the provider once and kept in the session. */
  profile(id: string, record: SessionRecord): Promise<KindeUserProfile>;
  /** Ends every session of the user of this session (this one included); answers how many ended. */
  signOutEverywhere(id: string, record: SessionRecord): Promise<number>;
  /**
   * Renews the session's tokens now, through the refresher's single flight (after a role, plan or
   * organization change); answers the stored record. Rejects with `ERR_NOT_AUTHENTICATED` when the
   * provider refused and the session ended, `ERR_CONFIG` (the session kept) when it has no refresh token.
   */
  refreshNow(id: string, record: SessionRecord): Promise<SessionRecord>;
  /**
   * Sets the session cookie for `id`: with `Max-Age` (the absolute lifetime) unless `persistent` is
   * false, which makes it a browser-session cookie (Kinde's `ksp.persistent: false`).
   */
  setCookie(reply: FastifyReply, id: string, persistent?: boolean): void;
  /** Cookie options shared by set and clear. */
  cookieOptions(): { path: string; httpOnly: boolean; sameSite: 'lax'; secure: boolean; domain?: string };
}

interface Deps {
  config: KindeConfig;
  store: SessionStore;
  signer: CookieSigner;
  refresher: SessionRefresher;
  /** The provider's user profile for an access token. */
  fetchProfile(accessToken: string): Promise<KindeUserProfile>;
  /** Indexes new sessions by user, for `revokeUser` and `sessionsOf` (sign-in only, never the hot path). */
  users?: UserIndex;
  /**
   * Told when a validly signed cookie names a session that is over (the audit trail): past its
   * absolute lifetime (`record` given), or no longer stored (idle or absolute timeout, or ended).
   */
  onExpired?(record: SessionRecord | undefined): void;
  /** The clock (milliseconds). Default `Date.now`. */
  now?: () => number;
}

/**
 * False when the access token asks for a browser-session cookie: Kinde's `ksp: { persistent: false }`
 * (read as the TypeScript and Next.js SDKs read it; absent means persistent).
 */
export function isPersistent(accessClaims: Claims): boolean {
  const ksp = accessClaims.ksp as { persistent?: unknown } | null | undefined;
  return !(ksp !== null && typeof ksp === 'object' && ksp.persistent === false);
}

/** A verified session cookie: what `SessionManager.ticket` answers. */
export interface SessionTicket {
  readonly id: string;
  /** The store key, `sess:<id>`. */
  readonly key: string;
  /** An older secret signed the cookie: it is signed again with the current one. */
  readonly rotated: boolean;
}

/** Store keys of sessions: `sess:<id>` (the testing kit reads them too). */
export const SESSION_PREFIX = 'sess:';

/** Milliseconds since the epoch at which a token with these claims expires. */
export function expiresAtMs(claims: Claims, expiresIn: number | undefined, now: number): number {
  if (typeof claims.exp === 'number') return claims.exp * 1000;
  return now + (expiresIn ?? 0) * 1000;
}

/** Builds the session manager. One per plugin instance. */
export function createSessionManager({
  config,
  store,
  signer,
  refresher,
  fetchProfile,
  users,
  onExpired,
  now = Date.now,
}: Deps): SessionManager {
  // `__Host-` forbids a Domain attribute: a cookie shared with subdomains can only be `__Secure-`.
  const cookieName = !config.secureCookies
    ? 'kinde_session'
    : config.cookieDomain === undefined
      ? '__Host-kinde_session'
      : '__Secure-kinde_session';
  const domain = config.cookieDomain;
  const touchIntervalMs = Math.min(60_000, config.idleTimeoutMs / 2);

  const ttlFor = (record: SessionRecord) =>
    Math.min(config.idleTimeoutMs, record.createdAt + config.absoluteTimeoutMs - now());

  const current = async (id: string) =>
    (await store.get(SESSION_PREFIX + id))?.value as SessionRecord | undefined;

  /** Stores `next` only while the session still exists, so a refresh racing a logout cannot revive it. */
  async function save(id: string, next: SessionRecord): Promise<boolean> {
    if (store.replace) return store.replace(SESSION_PREFIX + id, next, ttlFor(next));
    if ((await store.get(SESSION_PREFIX + id)) === undefined) return false;
    await store.set(SESSION_PREFIX + id, next, ttlFor(next));
    return true;
  }

  const lock = store.lock;
  const unlock = store.unlock;
  const access: SessionAccess = {
    read: current,
    save,
    async end(id) {
      await store.delete(SESSION_PREFIX + id);
    },
    ...(lock !== undefined && {
      lock: (id: string, ttlMs: number) => lock.call(store, SESSION_PREFIX + id, ttlMs),
    }),
    ...(unlock !== undefined && {
      unlock: (id: string, token: string) => unlock.call(store, SESSION_PREFIX + id, token),
    }),
  };

  function renew(
    id: string,
    record: SessionRecord,
    rotated: boolean,
    trace: LoadTrace | undefined,
  ): Promise<LoadedSession | undefined> {
    return refresher.refresh(id, record, access).then(
      (fresh) => {
        if (trace !== undefined) {
          if (fresh) trace.refresh = 'renewed';
          else trace.anonymous = 'refresh_refused';
        }
        return fresh ? { id, record: fresh, rotated } : undefined;
      },
      (error: unknown) => {
        // The provider is down but the token has a few seconds left: serve with it meanwhile.
        const down = error instanceof KindeAuthError && error.code === 'ERR_PROVIDER_UNAVAILABLE';
        if (down && record.accessExpiresAt > now()) {
          if (trace !== undefined) trace.refresh = 'provider_down_current_token_served';
          return { id, record, rotated };
        }
        throw error;
      },
    );
  }

  function admit(
    id: string,
    entry: StoreEntry<object> | undefined,
    rotated: boolean,
    trace: LoadTrace | undefined,
  ): MaybePromise<LoadedSession | undefined> {
    if (entry === undefined) {
      if (trace !== undefined) trace.anonymous = 'not_found';
      onExpired?.(undefined);
      return undefined;
    }
    const record = entry.value as SessionRecord;
    const at = now();
    if (at - record.createdAt >= config.absoluteTimeoutMs) {
      if (trace !== undefined) trace.anonymous = 'absolute_timeout';
      onExpired?.(record);
      return andThen(store.delete(SESSION_PREFIX + id), () => undefined);
    }
    if (refresher.due(record, at)) return renew(id, record, rotated, trace);
    const loaded: LoadedSession = { id, record, rotated };
    // Touched once at least `touchIntervalMs` has passed since its expiry was last set, that point
    // included: a client seen exactly every half idle window (both reads in the same millisecond of
    // real time past the moved clock) was signed out at the third.
    if (entry.expiresAt - at <= config.idleTimeoutMs - touchIntervalMs) {
      return andThen(store.touch(SESSION_PREFIX + id, ttlFor(record)), () => loaded);
    }
    return loaded;
  }

  // Tickets by the signer's remembered result: one per verified cookie while the signer keeps it.
  const tickets = new WeakMap<object, SessionTicket>();
  const ticket = (signedCookie: string): SessionTicket | undefined => {
    const unsigned = signer.unsign(signedCookie);
    if (unsigned === undefined) return undefined;
    let known = tickets.get(unsigned);
    if (known === undefined) {
      known = { id: unsigned.value, key: SESSION_PREFIX + unsigned.value, rotated: unsigned.rotated };
      tickets.set(unsigned, known);
    }
    return known;
  };
  const loadTicket = (
    { id, key, rotated }: SessionTicket,
    trace?: LoadTrace,
  ): MaybePromise<LoadedSession | undefined> =>
    andThen(store.get(key), (entry) => admit(id, entry, rotated, trace));

  return {
    cookieName,
    ticket,
    loadTicket,
    cookieOptions() {
      const options = { path: '/', httpOnly: true, sameSite: 'lax' as const, secure: config.secureCookies };
      return domain === undefined ? options : { ...options, domain };
    },
    load(signedCookie, trace) {
      const verified = ticket(signedCookie);
      if (verified === undefined) {
        if (trace !== undefined) trace.anonymous = 'bad_signature';
        return undefined;
      }
      return loadTicket(verified, trace);
    },
    async create(reply, tokens, accessClaims) {
      const idClaims = tokens.idClaims ?? {};
      const createdAt = now();
      const record: SessionRecord = {
        v: 1,
        user: userFromClaims(idClaims),
        accessToken: tokens.accessToken,
        accessClaims,
        accessExpiresAt: expiresAtMs(accessClaims, tokens.expiresIn, createdAt),
        idToken: tokens.idToken ?? null,
        idClaims,
        refreshToken: tokens.refreshToken ?? null,
        createdAt,
      };
      const id = randomId();
      await store.set(SESSION_PREFIX + id, record, ttlFor(record));
      await users?.add(id, record);
      this.setCookie(reply, id, isPersistent(accessClaims));
      return id;
    },
    setCookie(reply, id, persistent = true) {
      // Not persistent: no Max-Age, so the browser forgets the cookie when it closes; the stored
      // session still ends at its idle and absolute timeouts.
      const options = this.cookieOptions();
      setCookie(
        reply,
        cookieName,
        signer.sign(id),
        persistent ? { ...options, maxAge: Math.floor(config.absoluteTimeoutMs / 1000) } : options,
      );
    },
    async refreshNow(id, record) {
      // Without a refresh token the refresher would end the session: refuse, and keep it.
      if (record.refreshToken === null)
        throw new KindeAuthError(
          'ERR_CONFIG',
          'refreshTokens() needs a refresh token: the session has none, because KINDE_SCOPE lacks "offline"',
        );
      const fresh = await refresher.refresh(id, record, access);
      if (fresh === undefined)
        throw new KindeAuthError(
          'ERR_NOT_AUTHENTICATED',
          'The session has ended: the identity provider refused to refresh it',
        );
      return fresh;
    },
    async profile(id, record) {
      if (record.profile) return record.profile;
      const profile = await fetchProfile(record.accessToken);
      const latest = await current(id);
      if (latest) await save(id, { ...latest, profile });
      return profile;
    },
    idOf(signedCookie) {
      return signer.unsign(signedCookie)?.value;
    },
    destroy(id) {
      return store.delete(SESSION_PREFIX + id);
    },
    async take(id) {
      const record = await current(id);
      await store.delete(SESSION_PREFIX + id);
      return record;
    },
    async signOutEverywhere(id, record) {
      const sub = subOf(record);
      const ended = sub !== undefined && users ? await users.revoke(sub) : 0;
      // Unindexed (no user index, or no sub): this session at least.
      return (await store.delete(SESSION_PREFIX + id)) ? ended + 1 : ended;
    },
  };
}
