/** A grant an application may use at the token endpoint. */
export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials';

/** A feature flag value as written in the directory: its type is inferred (boolean, integer, string). */
export type FlagValue = boolean | number | string;

/** A role, as it appears in the `roles` claim. */
export interface Role {
  /** Stable id (Kinde uses UUIDs). */
  id: string;
  /** The key apps check, e.g. `admin`. */
  key: string;
  /** Display name. */
  name: string;
}

/** An organization. */
export interface Organization {
  /** `org_` followed by hex or digits, e.g. `org_0000000001`. */
  code: string;
  /** Display name, e.g. `Default Org`. */
  name: string;
  /** Feature flags every member gets unless their membership overrides them. */
  featureFlags?: Record<string, FlagValue>;
  /** Organization properties (e.g. `kp_org_city`), in the access token's `organization_properties`. */
  properties?: Record<string, FlagValue>;
  /** Keys of the billing plans the organization subscribes to (its members' entitlements). */
  plans?: string[];
}

/** A user's membership of one organization: what they may do there. */
export interface Membership {
  /** The organization's `code`. */
  orgCode: string;
  /** Permission keys, e.g. `read:items`. */
  permissions: string[];
  /** Role keys, resolved against the directory's `roles`. */
  roles: string[];
  /** Feature flags for this user in this organization (override the organization's). */
  featureFlags?: Record<string, FlagValue>;
}

/** A user who can sign in. */
export interface User {
  /** `kp_` followed by 32 lowercase hex characters. */
  id: string;
  email: string;
  givenName: string;
  familyName: string;
  emailVerified?: boolean;
  picture?: string | null;
  providedId?: string | null;
  username?: string | null;
  /** E.164 phone number, in the ID token's `phone_number`. */
  phoneNumber?: string | null;
  /** User properties (e.g. `kp_usr_city`), in both tokens' `user_properties`. */
  properties?: Record<string, FlagValue>;
  /** Keys of the billing plans the user subscribes to (B2C billing). */
  plans?: string[];
  /** Unix seconds; defaults to the time the directory was loaded. */
  updatedAt?: number;
  organizations: Membership[];
}

/** A registered application (an OAuth client). */
export interface Application {
  name: string;
  clientId: string;
  /** 40-60 alphanumeric characters (Kinde's SDK rule); omit for a public (PKCE-only) client. */
  clientSecret?: string;
  grants: GrantType[];
  /** Exact callback URLs allowed as `redirect_uri`. */
  redirectUris: string[];
  /** Exact URLs allowed as `/logout?redirect=`. */
  logoutUris: string[];
  /** When true, any http(s) URL on 127.0.0.1, localhost or [::1] (any port and path) is allowed too. */
  allowLoopbackRedirects?: boolean;
  /** Audiences a client_credentials token may be requested for; empty or absent allows any. */
  audiences?: string[];
  /** Organization a client_credentials token is scoped to (adds `org_code`). */
  orgCode?: string;
  /** Permissions a client_credentials token carries (`permissions` claim), as an org-scoped M2M app is granted. */
  permissions?: string[];
  /**
   * Management API scopes (e.g. `read:users`) its client_credentials tokens for the `<issuer>/api`
   * audience carry. Absent: every scope the emulator serves; `[]`: none.
   */
  managementScopes?: string[];
  /**
   * False: its user tokens carry `ksp: { persistent: false }` (Kinde's non-persistent sessions: the
   * app keeps its session cookie for the browser session only). Default true.
   */
  persistentSessions?: boolean;
}

/** A feature of a billing plan, as the Account API lists it among entitlements. */
export interface PlanEntitlement {
  featureKey: string;
  featureName?: string;
  /** The name js-utils' `has({ billingEntitlements })` matches. Default: the feature name, else the key. */
  priceName?: string;
  unitAmount?: number;
  fixedCharge?: number;
  limitMax?: number;
  limitMin?: number;
}

/** A billing plan: the entitlements of every user or organization subscribed to it. */
export interface BillingPlan {
  key: string;
  name?: string;
  entitlements: PlanEntitlement[];
}

/** A permission defined in the environment (created through the Management API). */
export interface PermissionDefinition {
  /** `perm_` followed by the key, as the Account API reports it. */
  id: string;
  key: string;
  name: string;
  description?: string;
}

/** Token lifetimes in seconds. */
export interface TokenLifetimes {
  accessToken: number;
  idToken: number;
  refreshToken: number;
}

/** Everything the emulator knows: users, organizations, roles, applications, lifetimes. */
export interface Directory {
  organizations: Organization[];
  roles: Role[];
  users: User[];
  applications: Application[];
  tokenLifetimes: TokenLifetimes;
  /** Seconds a rotated refresh token stays usable (Kinde's "small overlap period"). Default 5. */
  refreshGraceSeconds?: number;
  /** Environment-level feature flag values: every organization and member gets them unless overridden. */
  featureFlags?: Record<string, FlagValue>;
  /** Permissions created through the Management API (keys used in memberships are known without this). */
  permissions?: PermissionDefinition[];
  /** Endpoints that receive signed webhook events. */
  webhooks?: WebhookConfig[];
  /** Billing plans, subscribed to by users and organizations (`plans: [key]`). */
  plans?: BillingPlan[];
}

/** A webhook: where events are POSTed and which event types (e.g. `user.created`) it receives. */
export interface WebhookConfig {
  /** http(s) URL; only loopback URLs are called unless the emulator runs with `allowRemote`. */
  endpoint: string;
  events: string[];
}

/** One logged HTTP request, for tests to assert against. */
export interface RequestLogEntry {
  method: string;
  path: string;
  query?: Record<string, unknown>;
  /** The `grant_type` of a `/oauth2/token` call. */
  grantType?: string;
  /** Response status code, once known. */
  status?: number;
  /** Unix milliseconds (real time, not the emulator clock). */
  time: number;
}
