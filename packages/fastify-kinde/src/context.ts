import type { AccountApi, KindeEntitlementResult, KindeEntitlements } from './account-api.js';
import {
  type FlagType,
  type FlagValue,
  flagOf,
  type KindeFlag,
  type KindeOrganizationRef,
  type KindeRole,
  organizationPropertiesOf,
  organizationsOf,
  orgCodeOf,
  orgCodesOf,
  orgNameOf,
  permissionsOf,
  rolesOf,
  userPropertiesOf,
} from './claims.js';
import { KindeAuthError } from './errors.js';
import { hasAll, type KindeHasParams } from './has.js';
import type { Claims, KindeUser, KindeUserProfile, SessionRecord } from './session/record.js';

/** Which token a claim is read from (js-utils' `accessToken` / `idToken` are accepted too). */
export type TokenName = 'access_token' | 'id_token';

/** `getOrganization()`: the current organization, as the Next.js SDK shapes it (`orgCode` null outside one). */
export interface KindeOrganization {
  orgCode: string | null;
  /** The access token's `org_name`. */
  orgName: string | null;
  /** `organization_properties` of both tokens, by Kinde key, plus `city`, `industry`, … for Kinde's built-in ones. */
  properties: Record<string, unknown>;
}

/** `getUserOrganizations()`: the ID token's `org_codes`, with names from its `organizations` claim. */
export interface KindeOrganizations {
  orgCodes: string[];
  orgs: KindeOrganizationRef[];
}

/** How long the Account API's entitlements are reused for one session (or bearer token); `refreshTokens()` drops them. */
const ENTITLEMENTS_TTL_MS = 30_000;

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
  /**
   * The person, as the Next.js SDK shapes it: `{id, email, given_name, family_name, picture, username,
   * phone_number, properties}` (`username` is `preferred_username`; `properties` the `user_properties`
   * of both tokens); null for machines and anonymous callers.
   */
  getUser(): KindeUser | null;
  /** The provider's `/oauth2/v2/user_profile` answer, fetched once per session. */
  getUserProfile(): Promise<KindeUserProfile | null>;
  /** `{name, value}` of a claim of the access token (default) or the ID token; null when absent. */
  getClaim(name: string, token?: TokenName): { name: string; value: unknown } | null;
  getClaimValue(name: string, token?: TokenName): unknown;
  /** Every claim of the access token (default) or the ID token, as verified (a copy); null for an anonymous caller or a token the caller has not got (a bearer caller's ID token). */
  getClaims(token?: TokenName | 'accessToken' | 'idToken'): Claims | null;
  getPermission(key: string): { orgCode: string | null; isGranted: boolean };
  getPermissions(): { orgCode: string | null; permissions: string[] };
  getFlag<V extends FlagValue>(code: string, defaultValue?: V, type?: FlagType): KindeFlag<V>;
  getBooleanFlag(code: string, defaultValue?: boolean): boolean;
  getStringFlag(code: string, defaultValue?: string): string;
  getIntegerFlag(code: string, defaultValue?: number): number;
  getOrganization(): KindeOrganization;
  getUserOrganizations(): KindeOrganizations;
  getRoles(): KindeRole[];
  /**
   * The billing plans and entitlements of the user (and their organization), from Kinde's Account API
   * with the user's access token, every page; reused for 30 s. Rejects with `ERR_NOT_AUTHENTICATED` for
   * anonymous and machine callers, `ERR_PROVIDER_UNAVAILABLE` when the API cannot answer.
   */
  getEntitlements(): Promise<KindeEntitlements>;
  /** One entitlement by feature key (`/account_api/v1/entitlement/:key`); `entitlement` is null when not held. */
  getEntitlement(key: string): Promise<KindeEntitlementResult>;
  /**
   * True when the caller holds every listed role, permission, feature flag and billing entitlement,
   * as js-utils' `has()`; false for anonymous callers. Entitlements are asked of the Account API, so it
   * is async. Throws a TypeError for an unknown key or a malformed list.
   */
  has(params: KindeHasParams): Promise<boolean>;
  /**
   * Renews the session's tokens now (the refresh single flight), so this request and the next ones
   * see new roles, permissions, plan or organization; for right after such a change. Browser
   * sessions only: other callers get `ERR_NOT_AUTHENTICATED`.
   */
  refreshTokens(): Promise<void>;
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
  /** Kinde's Account API, for a person's access token. */
  account?: AccountApi | null;
  /** The stored session these data come from (browser sessions). */
  record?: SessionRecord;
  /** Renews the session of these data and answers the renewed session's (browser sessions only). */
  refresh?: ((data: CallerData) => Promise<CallerData>) | null;
}

const EMPTY: Claims = Object.freeze({});

class CallerContext implements KindeContext {
  readonly kind: CallerKind;
  readonly via: 'session' | 'bearer' | null;
  readonly sessionId: string | null;
  readonly unavailable: boolean;
  readonly problem: string | null;
  #data: CallerData;
  // Computed on first use, never on the request path: a context is shared by the requests of a session.
  #user: KindeUser | undefined;
  #entitlements: { at: number; result: Promise<KindeEntitlements> } | undefined;

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
    const base = this.#data.user;
    if (base === null) return null;
    if (this.#user === undefined) {
      const { idClaims: id, accessClaims: access } = this.#data;
      const text = (name: string) => {
        const value = id[name] ?? access[name];
        return typeof value === 'string' ? value : null;
      };
      this.#user = {
        ...base,
        username: text('preferred_username'),
        phone_number: text('phone_number'),
        properties: userPropertiesOf(id, access),
      };
    }
    return this.#user;
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
  getClaims(token: TokenName | 'accessToken' | 'idToken' = 'access_token'): Claims | null {
    if (this.kind === 'anonymous') return null;
    const idToken = token === 'id_token' || token === 'idToken';
    if (idToken && this.#data.idToken === null) return null;
    // A copy: the claims object is the stored session's, shared by its requests.
    return { ...(idToken ? this.#data.idClaims : this.#data.accessClaims) };
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
  // A new object per call, as before these grew: a handler may change what it gets.
  getOrganization(): KindeOrganization {
    const { idClaims, accessClaims } = this.#data;
    return {
      orgCode: orgCodeOf(accessClaims),
      orgName: orgNameOf(accessClaims),
      properties: organizationPropertiesOf(idClaims, accessClaims),
    };
  }
  getUserOrganizations(): KindeOrganizations {
    const named = organizationsOf(this.#data.idClaims);
    const orgCodes = [...new Set([...orgCodesOf(this.#data.idClaims), ...named.map((o) => o.code)])];
    const names = new Map(named.map((o) => [o.code, o.name]));
    return { orgCodes, orgs: orgCodes.map((code) => ({ code, name: names.get(code) ?? null })) };
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
  #account(): { api: AccountApi; token: string } {
    const api = this.#data.account;
    const token = this.#data.accessToken;
    if (this.kind !== 'user' || !api || token === null)
      throw new KindeAuthError(
        'ERR_NOT_AUTHENTICATED',
        this.kind === 'machine'
          ? 'Billing entitlements belong to a signed-in user; a machine token has none'
          : 'Billing entitlements need a signed-in user',
      );
    return { api, token };
  }
  getEntitlements(): Promise<KindeEntitlements> {
    let account: { api: AccountApi; token: string };
    try {
      account = this.#account();
    } catch (error) {
      return Promise.reject(error);
    }
    const now = Date.now();
    const cached = this.#entitlements;
    if (cached !== undefined && now - cached.at < ENTITLEMENTS_TTL_MS) return cached.result;
    const entry = { at: now, result: account.api.entitlements(account.token) };
    entry.result.catch(() => {
      if (this.#entitlements === entry) this.#entitlements = undefined;
    });
    this.#entitlements = entry;
    return entry.result;
  }
  async getEntitlement(key: string): Promise<KindeEntitlementResult> {
    const { api, token } = this.#account();
    return api.entitlement(token, key);
  }
  has(params: KindeHasParams): Promise<boolean> {
    // A machine may hold roles, permissions and flags; billing entitlements are a person's.
    const subject =
      this.kind === 'anonymous'
        ? null
        : {
            roles: () => this.getRoles(),
            permissions: () => this.getPermissions(),
            flags: () => this.#data.accessClaims.feature_flags as Record<string, { v?: unknown }> | undefined,
            entitlements: () =>
              this.kind === 'user'
                ? this.getEntitlements()
                : Promise.resolve({ orgCode: null, plans: [], entitlements: [] }),
          };
    return hasAll(subject, params);
  }
  async refreshTokens(): Promise<void> {
    const refresh = this.#data.refresh;
    if (!refresh)
      throw new KindeAuthError(
        'ERR_NOT_AUTHENTICATED',
        'refreshTokens() needs a browser session; a bearer caller renews its own token',
      );
    this.#data = await refresh(this.#data);
    this.#user = undefined;
    this.#entitlements = undefined;
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
