import {
  type FlagType,
  type FlagValue,
  flagOf,
  type KindeFlag,
  type KindeRole,
  orgCodeOf,
  orgCodesOf,
  permissionsOf,
  rolesOf,
} from './claims.js';
import { KindeAuthError } from './errors.js';
import type { Claims, KindeUser, KindeUserProfile } from './session/record.js';

/** Which token a claim is read from. */
export type TokenName = 'access_token' | 'id_token';

/** Who is calling: nobody, a person (browser session or a user's bearer token), or a machine (M2M token). */
export type CallerKind = 'anonymous' | 'user' | 'machine';

/**
 * `request.kinde`: who is calling, read from claims verified when they arrived. Named as Kinde's
 * SDKs name them; everything but `getUserProfile` is synchronous, because the credentials were read
 * once, before the route ran.
 *
 * @example
 * ```ts
 * app.get('/me', { onRequest: requireAuth() }, (request) => ({
 *   user: request.kinde.getUser(),
 *   canWrite: request.kinde.getPermission('write:items').isGranted,
 *   theme: request.kinde.getStringFlag('theme', 'light'),
 * }));
 * ```
 */
export interface KindeContext {
  readonly kind: CallerKind;
  /** How the caller proved who it is. */
  readonly via: 'session' | 'bearer' | null;
  /** The session id, when the caller has a browser session. */
  readonly sessionId: string | null;
  /** True when the credentials could not be checked (session store or provider down): guards answer 503 rather than 401. */
  readonly unavailable: boolean;
  /**
   * Why presented credentials were refused (e.g. an expired bearer token), for `WWW-Authenticate`;
   * with `unavailable`, why they could not be checked.
   */
  readonly problem: string | null;
  isAuthenticated(): boolean;
  /** `{id, email, given_name, family_name, picture}` of a person; null for machines and anonymous callers. */
  getUser(): KindeUser | null;
  /** The provider's `/oauth2/v2/user_profile` answer, fetched once per session. */
  getUserProfile(): Promise<KindeUserProfile | null>;
  /** `{name, value}` of a claim of the access token (default) or the ID token; null when absent. */
  getClaim(name: string, token?: TokenName): { name: string; value: unknown } | null;
  getClaimValue(name: string, token?: TokenName): unknown;
  getPermission(key: string): { orgCode: string | null; isGranted: boolean };
  getPermissions(): { orgCode: string | null; permissions: string[] };
  getFlag<V extends FlagValue>(code: string, defaultValue?: V, type?: FlagType): KindeFlag<V>;
  getBooleanFlag(code: string, defaultValue?: boolean): boolean;
  getStringFlag(code: string, defaultValue?: string): string;
  getIntegerFlag(code: string, defaultValue?: number): number;
  getOrganization(): { orgCode: string | null };
  getUserOrganizations(): { orgCodes: string[] };
  getRoles(): KindeRole[];
  /** The current access token (a session refreshes it before it expires). */
  getAccessToken(): string | null;
  getIdToken(): string | null;
  /**
   * Ends every session of the calling user, on every instance (this one included); answers how many
   * ended. Only a browser session can do it: other callers get `ERR_NOT_AUTHENTICATED`.
   */
  signOutEverywhere(): Promise<number>;
}

/** What a context is made of. */
export interface CallerData {
  kind: CallerKind;
  via: 'session' | 'bearer' | null;
  sessionId: string | null;
  unavailable: boolean;
  problem: string | null;
  user: KindeUser | null;
  accessToken: string | null;
  accessClaims: Claims;
  idToken: string | null;
  idClaims: Claims;
  loadProfile: (() => Promise<KindeUserProfile | null>) | null;
  /** Ends all of the caller's sessions (browser sessions only). */
  signOutEverywhere?: (() => Promise<number>) | null;
}

const EMPTY: Claims = Object.freeze({});

class CallerContext implements KindeContext {
  readonly kind: CallerKind;
  readonly via: 'session' | 'bearer' | null;
  readonly sessionId: string | null;
  readonly unavailable: boolean;
  readonly problem: string | null;
  readonly #data: CallerData;

  constructor(data: CallerData) {
    this.kind = data.kind;
    this.via = data.via;
    this.sessionId = data.sessionId;
    this.unavailable = data.unavailable;
    this.problem = data.problem;
    this.#data = data;
  }

  isAuthenticated(): boolean {
    return this.kind !== 'anonymous';
  }
  getUser(): KindeUser | null {
    return this.#data.user;
  }
  getUserProfile(): Promise<KindeUserProfile | null> {
    return this.#data.loadProfile?.() ?? Promise.resolve(null);
  }
  getClaim(name: string, token: TokenName = 'access_token'): { name: string; value: unknown } | null {
    const value = this.getClaimValue(name, token);
    return value === undefined ? null : { name, value };
  }
  getClaimValue(name: string, token: TokenName = 'access_token'): unknown {
    return (token === 'id_token' ? this.#data.idClaims : this.#data.accessClaims)[name];
  }
  getPermission(key: string): { orgCode: string | null; isGranted: boolean } {
    return {
      orgCode: orgCodeOf(this.#data.accessClaims),
      isGranted: permissionsOf(this.#data.accessClaims).includes(key),
    };
  }
  getPermissions(): { orgCode: string | null; permissions: string[] } {
    return {
      orgCode: orgCodeOf(this.#data.accessClaims),
      permissions: permissionsOf(this.#data.accessClaims),
    };
  }
  getFlag<V extends FlagValue>(code: string, defaultValue?: V, type?: FlagType): KindeFlag<V> {
    return flagOf(this.#data.accessClaims, code, defaultValue, type);
  }
  getBooleanFlag(code: string, defaultValue?: boolean): boolean {
    return flagOf(this.#data.accessClaims, code, defaultValue, 'boolean').value;
  }
  getStringFlag(code: string, defaultValue?: string): string {
    return flagOf(this.#data.accessClaims, code, defaultValue, 'string').value;
  }
  getIntegerFlag(code: string, defaultValue?: number): number {
    return flagOf(this.#data.accessClaims, code, defaultValue, 'integer').value;
  }
  getOrganization(): { orgCode: string | null } {
    return { orgCode: orgCodeOf(this.#data.accessClaims) };
  }
  getUserOrganizations(): { orgCodes: string[] } {
    return { orgCodes: orgCodesOf(this.#data.idClaims) };
  }
  getRoles(): KindeRole[] {
    return rolesOf(this.#data.accessClaims);
  }
  getAccessToken(): string | null {
    return this.#data.accessToken;
  }
  getIdToken(): string | null {
    return this.#data.idToken;
  }
  signOutEverywhere(): Promise<number> {
    const revoke = this.#data.signOutEverywhere;
    if (revoke) return revoke();
    return Promise.reject(
      new KindeAuthError('ERR_NOT_AUTHENTICATED', 'Signing out everywhere needs a browser session'),
    );
  }
}

const NOBODY: CallerData = {
  kind: 'anonymous',
  via: null,
  sessionId: null,
  unavailable: false,
  problem: null,
  user: null,
  accessToken: null,
  accessClaims: EMPTY,
  idToken: null,
  idClaims: EMPTY,
  loadProfile: null,
};
const ANONYMOUS = new CallerContext(NOBODY);
const UNAVAILABLE = new CallerContext({ ...NOBODY, unavailable: true });

/** The context of a caller with no valid credentials. Shared: it holds nothing. */
export function anonymousContext(): KindeContext {
  return ANONYMOUS;
}

/**
 * The context when the credentials could not be checked (the session store failed, or the provider
 * is unreachable): anonymous, but guards answer 503, with `problem` as the detail when given.
 */
export function unavailableContext(problem?: string): KindeContext {
  return problem === undefined ? UNAVAILABLE : new CallerContext({ ...NOBODY, unavailable: true, problem });
}

/** The context of a caller whose bearer token was refused, and why (a phrase for `error_description`). */
export function refusedContext(problem: string): KindeContext {
  return new CallerContext({ ...NOBODY, via: 'bearer', problem });
}

/** The context of an authenticated caller. */
export function callerContext(data: Omit<CallerData, 'unavailable' | 'problem'>): KindeContext {
  return new CallerContext({ ...data, unavailable: false, problem: null });
}
