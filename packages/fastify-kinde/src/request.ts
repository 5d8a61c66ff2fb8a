import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { AccountApi } from './account-api.js';
import {
  anonymousContext,
  type CallerData,
  callerContext,
  type KindeContext,
  refusedContext,
  unavailableContext,
} from './context.js';
import { clearCookie, readCookie } from './cookies.js';
import type { DebugLog } from './debug.js';
import { KindeAuthError } from './errors.js';
import type { OidcClient } from './oidc.js';
import {
  isPersistent,
  type LoadedSession,
  type LoadTrace,
  type SessionManager,
  type SessionTicket,
} from './session/manager.js';
import { type Claims, type KindeUserProfile, type SessionRecord, userFromClaims } from './session/record.js';
import { isPromise, type MaybePromise } from './session/store.js';
import type { TokenVerifier } from './tokens.js';

/** RFC 6750 `b64token`; a JWT is three base64url segments. */
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const NO_CLAIMS: Claims = Object.freeze({});
const BEARER_THEN_SPACE = /^bearer\s/i;

/**
 * Whether an `Authorization` header names the Bearer scheme: `/^bearer(\s|$)/i`, decided from the
 * first seven characters when they settle it (`bearer` in any case, then nothing or a space) and by
 * the pattern otherwise (another whitespace character after it). Without the `u` flag, `i` folds no
 * other character onto these ASCII letters, so `(code | 32)` compares exactly what the pattern does.
 */
function isBearerScheme(header: string): boolean {
  if (
    header.length < 6 ||
    (header.charCodeAt(0) | 32) !== 98 ||
    (header.charCodeAt(1) | 32) !== 101 ||
    (header.charCodeAt(2) | 32) !== 97 ||
    (header.charCodeAt(3) | 32) !== 114 ||
    (header.charCodeAt(4) | 32) !== 101 ||
    (header.charCodeAt(5) | 32) !== 114
  )
    return false;
  return header.length === 6 || header.charCodeAt(6) === 32 || BEARER_THEN_SPACE.test(header);
}
const SESSION_PROVIDER_DOWN =
  'The identity provider is unavailable, so the session could not be renewed; try again shortly';
const KEYS_UNAVAILABLE =
  "The identity provider's signing keys could not be fetched, so the token could not be checked; try again shortly";

function isProviderDown(error: unknown): boolean {
  return error instanceof KindeAuthError && error.code === 'ERR_PROVIDER_UNAVAILABLE';
}

/** A memoised promise that is dropped when it fails, so that a later call tries again. */
function forgetOnFailure<T>(promise: Promise<T>, forget: () => void): Promise<T> {
  return promise.catch((error: unknown) => {
    forget();
    throw error;
  });
}

/** True for a token of the client-credentials grant: Kinde sends `gty` as `["client_credentials"]`, others as a string. */
function isMachineToken(claims: Claims): boolean {
  const gty = claims.gty;
  return Array.isArray(gty) ? gty.includes('client_credentials') : gty === 'client_credentials';
}

/** Why a token that verified still names nobody, or undefined: a user needs a non-empty string `sub`. */
function callerProblem(claims: Claims): string | undefined {
  if (isMachineToken(claims)) return undefined;
  const sub = claims.sub;
  return typeof sub === 'string' && sub.trim() !== '' ? undefined : 'the token names no user (sub)';
}

/** The context of a bearer caller: a machine when the token came from the client-credentials grant. */
function bearerCaller(
  token: string,
  claims: Claims,
  oidc: OidcClient,
  account: AccountApi | null,
): KindeContext {
  const problem = callerProblem(claims);
  if (problem !== undefined) return refusedContext(problem);
  const machine = isMachineToken(claims);
  let profile: Promise<KindeUserProfile> | undefined;
  return callerContext({
    kind: machine ? 'machine' : 'user',
    via: 'bearer',
    sessionId: null,
    user: machine ? null : userFromClaims(claims),
    accessToken: token,
    accessClaims: claims,
    idToken: null,
    idClaims: NO_CLAIMS,
    loadProfile: machine
      ? null
      : () => (profile ??= forgetOnFailure(oidc.userProfile(token), () => (profile = undefined))),
    account: machine ? null : account,
  });
}

/** What every session context of one plugin shares: made once, so a context costs no new closure for it. */
interface SessionShared {
  sessions: SessionManager;
  account: AccountApi | null;
  /** Renews the session of `data` and answers the renewed session's data (`refreshTokens()`). */
  refresh(data: CallerData): Promise<CallerData>;
}

function sessionShared(sessions: SessionManager, account: AccountApi | null): SessionShared {
  const shared: SessionShared = {
    sessions,
    account,
    async refresh(data) {
      const fresh = await sessions.refreshNow(data.sessionId!, data.record!);
      return { ...sessionData(shared, data.sessionId!, fresh), unavailable: false, problem: null };
    },
  };
  return shared;
}

/** The data of a browser session's context: claims from the stored record, the profile fetched on demand. */
function sessionData(
  { sessions, account, refresh }: SessionShared,
  id: string,
  record: SessionRecord,
): Omit<CallerData, 'unavailable' | 'problem'> {
  let profile: Promise<KindeUserProfile> | undefined;
  return {
    kind: 'user',
    via: 'session',
    sessionId: id,
    user: record.user,
    accessToken: record.accessToken,
    accessClaims: record.accessClaims,
    idToken: record.idToken,
    idClaims: record.idClaims,
    loadProfile: () =>
      (profile ??= forgetOnFailure(sessions.profile(id, record), () => (profile = undefined))),
    signOutEverywhere: () => sessions.signOutEverywhere(id, record),
    account,
    record,
    refresh,
  };
}

/** What the credential hook needs. */
export interface CredentialDeps {
  sessions: SessionManager;
  verifier: TokenVerifier;
  oidc: OidcClient;
  /** Kinde's Account API (entitlements), called only when a handler asks. */
  account?: AccountApi;
  /** Told of each refused bearer token: a stable reason code and the phrase of `WWW-Authenticate`. */
  onBearerRefused?(
    request: FastifyRequest,
    reason: 'ERR_TOKEN_INVALID' | 'ERR_PROVIDER_UNAVAILABLE',
    detail: string,
  ): void;
  /** Hits and misses of the verified-token cache. */
  counters?: { bearerHits: number; bearerMisses: number };
  /** Debug mode: each decision explained in the log (undefined when off: one check, nothing else). */
  debug?: DebugLog;
}

const ANONYMOUS_BECAUSE: Record<NonNullable<LoadTrace['anonymous']>, string> = {
  bad_signature:
    'anonymous: the session cookie signature is invalid (forged, or signed with a secret no longer in SESSION_SECRET); the cookie is cleared',
  not_found:
    'anonymous: the session cookie names no stored session (signed out, revoked, idle timeout, or the store was emptied); the cookie is cleared',
  absolute_timeout: 'anonymous: the session passed its absolute lifetime (absoluteTimeout); it was ended',
  refresh_refused:
    "anonymous: the provider refused to renew the session's tokens (refresh token expired or revoked); the session was ended",
};

/** Explains, in debug mode, what a session load decided. */
function explainLoad(
  debug: DebugLog,
  request: FastifyRequest,
  loaded: LoadedSession | undefined,
  trace: LoadTrace,
) {
  if (loaded === undefined) {
    const reason = trace.anonymous ?? 'not_found';
    debug.explain(request, 'session', ANONYMOUS_BECAUSE[reason], { reason });
    return;
  }
  const userId = loaded.record.user?.id ?? null;
  if (trace.refresh === 'renewed') {
    debug.explain(
      request,
      'refresh',
      'the access token had expired or was about to: renewed at the provider',
      {
        userId,
      },
    );
  } else if (trace.refresh !== undefined) {
    debug.explain(
      request,
      'refresh',
      'the access token is due for renewal but the provider is unreachable: served with the current token meanwhile',
      { userId, accessExpiresAt: new Date(loaded.record.accessExpiresAt).toISOString() },
    );
  }
  debug.explain(request, 'session', 'signed in through the session cookie', {
    userId,
    ...(loaded.rotated && { cookieResigned: true }),
  });
}

/** Explains, in debug mode, why a session could not be read. */
function explainFailure(debug: DebugLog, request: FastifyRequest, error: unknown) {
  const failure = error instanceof KindeAuthError ? error : undefined;
  if (failure?.code !== 'ERR_PROVIDER_UNAVAILABLE') {
    debug.explain(request, 'session', 'the session store failed: guarded routes answer 503', {
      reason: (error as { code?: string }).code ?? 'ERR_UNEXPECTED',
    });
    return;
  }
  const notAsked = failure.details.notAsked !== undefined;
  debug.explain(
    request,
    'refresh',
    notAsked
      ? `the token is expired and a refresh was not attempted (${failure.message}): guarded routes answer 503`
      : 'the token is expired and the provider could not be reached to renew it: guarded routes answer 503',
    {
      notAsked,
      ...(failure.details.retryInMs !== undefined && { retryInMs: Number(failure.details.retryInMs) }),
    },
  );
}

/**
 * The global `onRequest` hook: sets `request.kinde` from a bearer token (when an `Authorization:
 * Bearer` header is sent) or else from the session cookie. It never answers the request itself: the
 * guards decide. Synchronous stores and cached tokens make no promise.
 */
export function credentialHook({
  sessions,
  verifier,
  oidc,
  account,
  onBearerRefused,
  counters,
  debug,
}: CredentialDeps) {
  const refuse = (request: FastifyRequest, detail: string): KindeContext => {
    onBearerRefused?.(request, 'ERR_TOKEN_INVALID', detail);
    return refusedContext(detail);
  };
  // A record (or verified claims) keeps its object identity while a store or cache holds it, so its
  // context is made once, not on every request.
  const sessionContexts = new WeakMap<SessionRecord, KindeContext>();
  const shared = sessionShared(sessions, account ?? null);
  const bearerContexts = new WeakMap<Claims, KindeContext>();

  const attach = (request: FastifyRequest, reply: FastifyReply, loaded: LoadedSession | undefined) => {
    if (loaded === undefined) {
      request.kinde = anonymousContext();
      clearCookie(reply, sessions.cookieName, sessions.cookieOptions());
      return;
    }
    let context = sessionContexts.get(loaded.record);
    if (context === undefined || context.sessionId !== loaded.id) {
      context = callerContext(sessionData(shared, loaded.id, loaded.record));
      sessionContexts.set(loaded.record, context);
    }
    request.kinde = context;
    if (loaded.rotated) sessions.setCookie(reply, loaded.id, isPersistent(loaded.record.accessClaims));
  };

  const sessionFailed = (request: FastifyRequest, error: unknown) => {
    const providerDown = isProviderDown(error);
    // While refreshes back off, requests are refused without asking the provider: one warning per
    // try is enough, not one per request.
    const asked = !providerDown || (error as KindeAuthError).details.notAsked === undefined;
    request.log[asked ? 'warn' : 'debug'](
      { code: (error as { code?: string }).code },
      providerDown
        ? 'fastify-kinde: the session could not be refreshed, the provider is unreachable'
        : 'fastify-kinde: the session store failed',
    );
    // An outage, not a logout: 503, so that a client keeps its session and tries again.
    request.kinde = providerDown ? unavailableContext(SESSION_PROVIDER_DOWN) : unavailableContext();
  };

  const bearerToken = (request: FastifyRequest): string | undefined => {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    return token !== undefined && JWT_SHAPE.test(token) ? token : undefined;
  };

  const bearerContextFor = (token: string, claims: Claims): KindeContext => {
    const context = bearerCaller(token, claims, oidc, account ?? null);
    // Kept only while the verifier remembers the token (from its second use): the context of a
    // token used once dies young with its claims.
    if (verifier.remembers(token, claims)) bearerContexts.set(claims, context);
    return context;
  };

  const bearerVerified = (request: FastifyRequest, token: string, claims: Claims) => {
    request.kinde = bearerContexts.get(claims) ?? bearerContextFor(token, claims);
    if (request.kinde.problem !== null)
      onBearerRefused?.(request, 'ERR_TOKEN_INVALID', request.kinde.problem);
  };

  const bearerFailed = (request: FastifyRequest, error: unknown) => {
    // No key could be fetched to check the token: an outage, not a bad token (a 401 would make the
    // client throw a good token away).
    if (isProviderDown(error)) {
      onBearerRefused?.(request, 'ERR_PROVIDER_UNAVAILABLE', KEYS_UNAVAILABLE);
      request.kinde = unavailableContext(KEYS_UNAVAILABLE);
      return;
    }
    const reason =
      error instanceof KindeAuthError ? (error.details.reason ?? error.message) : 'the token is invalid';
    request.kinde = refuse(request, reason);
  };

  /** A token not in the cache: verified (a promise unless cached meanwhile), then attached. */
  const verifyBearer = (request: FastifyRequest, token: string, done: HookHandlerDoneFunction) => {
    let verified: MaybePromise<Claims>;
    try {
      verified = verifier.verifyCached(token);
    } catch (error) {
      bearerFailed(request, error);
      done();
      return;
    }
    if (!isPromise(verified)) {
      bearerVerified(request, token, verified);
      done();
      return;
    }
    verified.then(
      (claims) => {
        bearerVerified(request, token, claims);
        done();
      },
      (error: unknown) => {
        bearerFailed(request, error);
        done();
      },
    );
  };

  /** A loaded session attached; in debug mode (a trace given), its decisions explained. */
  const sessionLoaded = (
    request: FastifyRequest,
    reply: FastifyReply,
    loaded: LoadedSession | undefined,
    trace: LoadTrace | undefined,
  ) => {
    attach(request, reply, loaded);
    if (trace !== undefined && debug !== undefined) explainLoad(debug, request, loaded, trace);
  };

  const sessionLoadFailed = (request: FastifyRequest, error: unknown, trace: LoadTrace | undefined) => {
    sessionFailed(request, error);
    if (trace !== undefined && debug !== undefined) explainFailure(debug, request, error);
  };

  /**
   * The session of a cookie, or of a ticket (a cookie already verified): a synchronous store makes no
   * promise and no closure. `trace` (debug mode only) collects the load's decisions to explain once
   * it settles.
   */
  const loadSession = (
    request: FastifyRequest,
    reply: FastifyReply,
    cookie: string | SessionTicket,
    done: HookHandlerDoneFunction,
    trace?: LoadTrace,
  ) => {
    let loaded: MaybePromise<LoadedSession | undefined>;
    try {
      loaded = typeof cookie === 'string' ? sessions.load(cookie, trace) : sessions.loadTicket(cookie);
    } catch (error) {
      sessionLoadFailed(request, error, trace);
      done();
      return;
    }
    settleSession(request, reply, loaded, done, trace);
  };

  const settleSession = (
    request: FastifyRequest,
    reply: FastifyReply,
    loaded: MaybePromise<LoadedSession | undefined>,
    done: HookHandlerDoneFunction,
    trace: LoadTrace | undefined,
  ) => {
    if (!isPromise(loaded)) {
      sessionLoaded(request, reply, loaded, trace);
      done();
      return;
    }
    loaded.then(
      (value) => {
        sessionLoaded(request, reply, value, trace);
        done();
      },
      (error: unknown) => {
        sessionLoadFailed(request, error, trace);
        done();
      },
    );
  };

  const cookieName = sessions.cookieName;
  const lastCookie = new WeakMap<
    object,
    { header: string; present: boolean; ticket: SessionTicket | undefined }
  >();

  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    // One read of Fastify's `headers` getter for both headers (it may merge headers an app set).
    const headers = request.headers;
    const authorization = headers.authorization;
    if (authorization !== undefined && isBearerScheme(authorization)) {
      // A token seen before is answered from the cache before any parsing of the header.
      const presented = authorization.slice(7);
      const known = verifier.peek(presented);
      if (known !== undefined) {
        if (counters !== undefined) counters.bearerHits++;
        request.kinde = bearerContexts.get(known) ?? bearerContextFor(presented, known);
        if (request.kinde.problem !== null)
          onBearerRefused?.(request, 'ERR_TOKEN_INVALID', request.kinde.problem);
        done();
        return;
      }
      if (counters !== undefined) counters.bearerMisses++;
      // `Bearer <token>` with one space and nothing after it: the verifier decides it at once when it
      // can (its key known, three canonical base64url segments, which is a JWT that the header's
      // pattern below would take too). Anything else is read by the pattern, then verified.
      if (authorization.charCodeAt(6) === 32 && presented.charCodeAt(0) !== 32 && !presented.endsWith(' ')) {
        let claims: Claims | undefined;
        try {
          claims = verifier.verifyNow(presented);
        } catch (error) {
          bearerFailed(request, error);
          done();
          return;
        }
        if (claims !== undefined) {
          bearerVerified(request, presented, claims);
          done();
          return;
        }
      }
      const token = bearerToken(request);
      if (token === undefined) {
        request.kinde = refuse(request, 'the bearer token is malformed');
        done();
        return;
      }
      verifyBearer(request, token, done);
      return;
    }
    const header = headers.cookie;
    if (debug !== undefined) {
      const cookie = readCookie(header, cookieName);
      if (cookie === undefined) {
        request.kinde = anonymousContext();
        debug.explain(request, 'session', 'anonymous: no session cookie and no bearer token');
        done();
        return;
      }
      loadSession(request, reply, cookie, done, {});
      return;
    }
    if (header === undefined) {
      request.kinde = anonymousContext();
      done();
      return;
    }
    // A keep-alive connection sends the same Cookie header again and again: the session cookie found
    // in it and its verified ticket are remembered for that exact header (compared whole), so a
    // repeat costs neither a scan, nor a hash of the cookie, nor a signature check.
    const connection = request.raw.socket as object | null | undefined;
    let seen = connection ? lastCookie.get(connection) : undefined;
    if (seen === undefined || seen.header !== header) {
      const cookie = readCookie(header, cookieName);
      seen = {
        header,
        present: cookie !== undefined,
        ticket: cookie === undefined ? undefined : sessions.ticket(cookie),
      };
      if (connection) lastCookie.set(connection, seen);
    }
    if (!seen.present) {
      request.kinde = anonymousContext();
      done();
      return;
    }
    if (seen.ticket === undefined) {
      // A forged or stale signature: anonymous, and the cookie cleared.
      attach(request, reply, undefined);
      done();
      return;
    }
    loadSession(request, reply, seen.ticket, done);
  };
}
