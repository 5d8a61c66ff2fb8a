import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import {
  anonymousContext,
  callerContext,
  type KindeContext,
  refusedContext,
  unavailableContext,
} from './context.js';
import { KindeAuthError } from './errors.js';
import type { OidcClient } from './oidc.js';
import type { LoadedSession, SessionManager } from './session/manager.js';
import type { Claims, KindeUser, KindeUserProfile } from './session/record.js';
import type { MaybePromise } from './session/store.js';
import type { TokenVerifier } from './tokens.js';

/** RFC 6750 `b64token`; a JWT is three base64url segments. */
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const NO_CLAIMS: Claims = Object.freeze({});

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/**
 * Runs `work`, then `ok` or `fail`, then `done`: synchronously when `work` answers synchronously,
 * so a sync store or a cached token costs no promise on the hot path.
 */
function settle<T>(
  work: () => MaybePromise<T>,
  ok: (value: T) => void,
  fail: (error: unknown) => void,
  done: HookHandlerDoneFunction,
): void {
  let result: MaybePromise<T>;
  try {
    result = work();
  } catch (error) {
    fail(error);
    done();
    return;
  }
  if (!isPromise(result)) {
    ok(result);
    done();
    return;
  }
  result.then(
    (value) => {
      ok(value);
      done();
    },
    (error: unknown) => {
      fail(error);
      done();
    },
  );
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** A person named by an access token (Kinde puts `email` and names there only when configured). */
function userFromAccess(claims: Claims): KindeUser {
  return {
    id: String(claims.sub),
    email: text(claims.email),
    given_name: text(claims.given_name),
    family_name: text(claims.family_name),
    picture: text(claims.picture),
  };
}

/** The context of a bearer caller: a machine when the token came from the client-credentials grant. */
function bearerCaller(token: string, claims: Claims, oidc: OidcClient): KindeContext {
  const machine = Array.isArray(claims.gty) && claims.gty.includes('client_credentials');
  let profile: Promise<KindeUserProfile> | undefined;
  return callerContext({
    kind: machine ? 'machine' : 'user',
    via: 'bearer',
    sessionId: null,
    user: machine ? null : userFromAccess(claims),
    accessToken: token,
    accessClaims: claims,
    idToken: null,
    idClaims: NO_CLAIMS,
    loadProfile: machine ? null : () => (profile ??= oidc.userProfile(token)),
  });
}

/** The context of a browser session: claims from the stored record, the profile fetched on demand. */
function sessionCaller(sessions: SessionManager, { id, record }: LoadedSession): KindeContext {
  let profile: Promise<KindeUserProfile> | undefined;
  return callerContext({
    kind: 'user',
    via: 'session',
    sessionId: id,
    user: record.user,
    accessToken: record.accessToken,
    accessClaims: record.accessClaims,
    idToken: record.idToken,
    idClaims: record.idClaims,
    loadProfile: () => (profile ??= sessions.profile(id, record)),
  });
}

/** What the credential hook needs. */
export interface CredentialDeps {
  sessions: SessionManager;
  verifier: TokenVerifier;
  oidc: OidcClient;
}

/**
 * The global `onRequest` hook: sets `request.kinde` from a bearer token (when an `Authorization:
 * Bearer` header is sent) or else from the session cookie. It never answers the request itself: the
 * guards decide. Synchronous stores and cached tokens make no promise.
 */
export function credentialHook({ sessions, verifier, oidc }: CredentialDeps) {
  const attach = (request: FastifyRequest, reply: FastifyReply, loaded: LoadedSession | undefined) => {
    if (loaded === undefined) {
      request.kinde = anonymousContext();
      reply.clearCookie(sessions.cookieName, sessions.cookieOptions());
      return;
    }
    request.kinde = sessionCaller(sessions, loaded);
    if (loaded.rotated) sessions.setCookie(reply, loaded.id);
  };

  const sessionFailed = (request: FastifyRequest, error: unknown) => {
    const providerDown = error instanceof KindeAuthError && error.code === 'ERR_PROVIDER_UNAVAILABLE';
    request.log.warn(
      { code: (error as { code?: string }).code },
      providerDown
        ? 'fastify-kinde: the session could not be refreshed, the provider is unreachable'
        : 'fastify-kinde: the session store failed',
    );
    request.kinde = providerDown ? anonymousContext() : unavailableContext();
  };

  const bearerFailed = (request: FastifyRequest, error: unknown) => {
    const reason =
      error instanceof KindeAuthError ? (error.details.reason ?? error.message) : 'the token is invalid';
    request.kinde = refusedContext(reason);
  };

  function fromBearer(request: FastifyRequest, header: string, done: HookHandlerDoneFunction): void {
    const token = BEARER.exec(header)?.[1];
    if (token === undefined || !JWT_SHAPE.test(token)) {
      request.kinde = refusedContext('the bearer token is malformed');
      done();
      return;
    }
    settle(
      () => verifier.verifyCached(token),
      (claims) => {
        request.kinde = bearerCaller(token, claims, oidc);
      },
      (error) => bearerFailed(request, error),
      done,
    );
  }

  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const authorization = request.headers.authorization;
    if (authorization !== undefined && /^bearer(\s|$)/i.test(authorization)) {
      fromBearer(request, authorization, done);
      return;
    }
    const signed = request.cookies[sessions.cookieName];
    if (signed === undefined) {
      request.kinde = anonymousContext();
      done();
      return;
    }
    settle(
      () => sessions.load(signed),
      (loaded) => attach(request, reply, loaded),
      (error) => sessionFailed(request, error),
      done,
    );
  };
}
