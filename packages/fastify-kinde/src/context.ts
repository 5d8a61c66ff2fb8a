import type { Claims, KindeUser, SessionRecord } from './session/record.js';

/** Which token a claim is read from. */
export type TokenName = 'access_token' | 'id_token';

/**
 * `request.kinde`: who is calling, read from claims verified when they were stored. Named as
 * Kinde's SDKs name them. Every method is synchronous: the session was read once, before the route.
 *
 * @example
 * ```ts
 * app.get('/me', { onRequest: requireAuth() }, (request) => request.kinde.getUser());
 * ```
 */
export interface KindeContext {
  /** `anonymous` without credentials, `user` for a browser session. */
  readonly kind: 'anonymous' | 'user';
  /** The session id, when the caller has a session. */
  readonly sessionId: string | null;
  /** True when the session store could not be read: guards answer 503 rather than 401. */
  readonly unavailable: boolean;
  isAuthenticated(): boolean;
  getUser(): KindeUser | null;
  /** A claim of the access token (default) or the ID token. */
  getClaim(name: string, token?: TokenName): unknown;
  /** The current access token; the session refreshes it before it expires. */
  getAccessToken(): string | null;
  getIdToken(): string | null;
}

const ANONYMOUS: KindeContext = Object.freeze({
  kind: 'anonymous' as const,
  sessionId: null,
  unavailable: false,
  isAuthenticated: () => false,
  getUser: () => null,
  getClaim: () => undefined,
  getAccessToken: () => null,
  getIdToken: () => null,
});

/** The context of a caller with no valid credentials. Shared: it holds nothing. */
export function anonymousContext(): KindeContext {
  return ANONYMOUS;
}

const UNAVAILABLE: KindeContext = Object.freeze({ ...ANONYMOUS, unavailable: true });

/** The context when the session store failed: anonymous, but guards answer 503. */
export function unavailableContext(): KindeContext {
  return UNAVAILABLE;
}

class SessionContext implements KindeContext {
  readonly kind = 'user' as const;
  readonly unavailable = false;
  constructor(
    readonly sessionId: string,
    private readonly record: SessionRecord,
  ) {}

  isAuthenticated(): boolean {
    return true;
  }
  getUser(): KindeUser {
    return this.record.user;
  }
  getClaim(name: string, token: TokenName = 'access_token'): unknown {
    const claims: Claims = token === 'id_token' ? this.record.idClaims : this.record.accessClaims;
    return claims[name];
  }
  getAccessToken(): string {
    return this.record.accessToken;
  }
  getIdToken(): string | null {
    return this.record.idToken;
  }
}

/** The context of a browser session. */
export function sessionContext(sessionId: string, record: SessionRecord): KindeContext {
  return new SessionContext(sessionId, record);
}
