import { createHash } from 'node:crypto';
import { KINDE_DEFAULT_LIFETIMES } from './directory.js';
import type {
  Application,
  BillingPlan,
  Directory,
  FlagValue,
  GrantType,
  Membership,
  Organization,
  PermissionDefinition,
  PlanEntitlement,
  Role,
  User,
  WebhookConfig,
} from './types.js';
import { isEventType } from './webhooks/events.js';

/** A directory that does not validate; `field` names where (e.g. `users[1].email`). */
export class DirectoryError extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
    this.name = 'DirectoryError';
  }
}

type Obj = Record<string, unknown>;
const GRANTS: GrantType[] = ['authorization_code', 'refresh_token', 'client_credentials'];
/** An e-mail address as the emulator accepts it: in the directory file, the Management API and the sign-in page. */
export const EMAIL_PATTERN = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;
/** A permission key (and a flag key in the Management API): 1-128 letters, digits, `_`, `:`, `.` or `-`. */
export const KEY_PATTERN = /^[A-Za-z0-9_:.-]{1,128}$/;

function fail(field: string, problem: string): never {
  throw new DirectoryError(field, problem);
}

function obj(v: unknown, field: string, keys: string[]): Obj {
  if (!v || typeof v !== 'object' || Array.isArray(v)) fail(field, 'must be an object');
  for (const k of Object.keys(v))
    if (!keys.includes(k)) fail(`${field}.${k}`.replace(/^\./, ''), 'is not a known field');
  return v as Obj;
}

function arr(v: unknown, field: string, optional = false): unknown[] {
  if (v === undefined && optional) return [];
  if (!Array.isArray(v)) fail(field, 'must be an array');
  return v;
}

function str(v: unknown, field: string, pattern?: RegExp, hint?: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(field, 'must be a non-empty string');
  if (pattern && !pattern.test(v)) fail(field, hint ?? `must match ${pattern}`);
  return v;
}

function optStr(v: unknown, field: string): string | undefined {
  return v === undefined ? undefined : str(v, field);
}

function strList(v: unknown, field: string): string[] {
  return arr(v, field, true).map((s, i) => str(s, `${field}[${i}]`));
}

function posInt(v: unknown, field: string, allowZero = false): number {
  if (!Number.isInteger(v) || (v as number) < (allowZero ? 0 : 1)) {
    fail(field, allowZero ? 'must be a non-negative integer' : 'must be a positive integer');
  }
  return v as number;
}

function flags(v: unknown, field: string): Record<string, FlagValue> | undefined {
  if (v === undefined) return undefined;
  const o = obj(v, field, Object.keys(v && typeof v === 'object' ? v : {}));
  for (const [k, value] of Object.entries(o)) {
    const ok = typeof value === 'boolean' || typeof value === 'string' || Number.isInteger(value);
    if (!ok) fail(`${field}.${k}`, 'must be a boolean, an integer or a string');
  }
  return o as Record<string, FlagValue>;
}

function unique<T>(items: T[], key: (t: T) => string, field: string, name: string): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = key(item).toLowerCase();
    if (seen.has(k)) fail(`${field}[${i}].${name}`, `duplicates "${key(item)}"`);
    seen.add(k);
  });
}

const PROPERTY_KEY = /^(?!__proto__$)[a-z0-9_]{1,128}$/;

/** Property values: booleans, integers or strings, under lower-case keys such as `kp_usr_city`. */
function properties(v: unknown, field: string): Record<string, FlagValue> | undefined {
  const values = flags(v, field);
  for (const key of Object.keys(values ?? {}))
    if (!PROPERTY_KEY.test(key)) fail(`${field}.${key}`, 'must be a lower-case key such as kp_usr_city');
  return values;
}

function planKeys(v: unknown, field: string, plans: BillingPlan[]): string[] {
  const keys = strList(v, field);
  keys.forEach((key, i) => {
    if (!plans.some((p) => p.key === key)) fail(`${field}[${i}]`, `no plan has key "${key}"`);
  });
  return keys;
}

function organization(v: unknown, f: string, plans: BillingPlan[]): Organization {
  const o = obj(v, f, ['code', 'name', 'featureFlags', 'properties', 'plans']);
  const org: Organization = {
    code: str(o.code, `${f}.code`, /^org_[A-Za-z0-9]+$/, 'must look like org_0123abcd'),
    name: str(o.name, `${f}.name`),
  };
  const ff = flags(o.featureFlags, `${f}.featureFlags`);
  if (ff) org.featureFlags = ff;
  const props = properties(o.properties, `${f}.properties`);
  if (props) org.properties = props;
  if (o.plans !== undefined) org.plans = planKeys(o.plans, `${f}.plans`, plans);
  return org;
}

const KEY = /^[A-Za-z0-9_:.-]{1,128}$/;
const KEY_HINT = 'must be letters, digits, "_", ":", "." or "-"';

function amount(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(field, 'must be a non-negative number');
  return v;
}

function planEntitlement(v: unknown, f: string): PlanEntitlement {
  const o = obj(v, f, [
    'featureKey',
    'featureName',
    'priceName',
    'unitAmount',
    'fixedCharge',
    'limitMax',
    'limitMin',
  ]);
  const e: PlanEntitlement = { featureKey: str(o.featureKey, `${f}.featureKey`, KEY, KEY_HINT) };
  for (const k of ['featureName', 'priceName'] as const) {
    const value = optStr(o[k], `${f}.${k}`);
    if (value !== undefined) e[k] = value;
  }
  for (const k of ['unitAmount', 'fixedCharge', 'limitMax', 'limitMin'] as const) {
    const value = amount(o[k], `${f}.${k}`);
    if (value !== undefined) e[k] = value;
  }
  if (e.limitMin !== undefined && e.limitMax !== undefined && e.limitMin > e.limitMax)
    fail(`${f}.limitMin`, 'must not exceed limitMax');
  return e;
}

function billingPlans(v: unknown): BillingPlan[] {
  const plans = arr(v, 'plans', true).map((p, i) => {
    const f = `plans[${i}]`;
    const o = obj(p, f, ['key', 'name', 'entitlements']);
    const plan: BillingPlan = {
      key: str(o.key, `${f}.key`, KEY, KEY_HINT),
      entitlements: arr(o.entitlements, `${f}.entitlements`, true).map((e, j) =>
        planEntitlement(e, `${f}.entitlements[${j}]`),
      ),
    };
    const name = optStr(o.name, `${f}.name`);
    if (name !== undefined) plan.name = name;
    unique(plan.entitlements, (e) => e.featureKey, `${f}.entitlements`, 'featureKey');
    return plan;
  });
  unique(plans, (p) => p.key, 'plans', 'key');
  return plans;
}

function role(v: unknown, f: string): Role {
  const o = obj(v, f, ['id', 'key', 'name']);
  return { id: str(o.id, `${f}.id`), key: str(o.key, `${f}.key`), name: str(o.name, `${f}.name`) };
}

function membership(v: unknown, f: string, orgs: Organization[], roles: Role[]): Membership {
  const o = obj(v, f, ['orgCode', 'permissions', 'roles', 'featureFlags']);
  const orgCode = str(o.orgCode, `${f}.orgCode`);
  if (!orgs.some((g) => g.code === orgCode)) fail(`${f}.orgCode`, `no organization has code "${orgCode}"`);
  const m: Membership = { orgCode, permissions: strList(o.permissions, `${f}.permissions`), roles: [] };
  m.roles = strList(o.roles, `${f}.roles`);
  m.roles.forEach((key, i) => {
    if (!roles.some((r) => r.key === key)) fail(`${f}.roles[${i}]`, `no role has key "${key}"`);
  });
  const ff = flags(o.featureFlags, `${f}.featureFlags`);
  if (ff) m.featureFlags = ff;
  return m;
}

const USER_KEYS = [
  'id',
  'email',
  'givenName',
  'familyName',
  'emailVerified',
  'picture',
  'providedId',
  'username',
  'phoneNumber',
];
const PHONE = /^\+[1-9][0-9]{4,14}$/;

function user(v: unknown, f: string, orgs: Organization[], roles: Role[], plans: BillingPlan[]): User {
  const o = obj(v, f, [...USER_KEYS, 'updatedAt', 'organizations', 'properties', 'plans']);
  const email = str(o.email, `${f}.email`, EMAIL_PATTERN, 'must be an email address');
  const derived = `kp_${createHash('sha256').update(email.toLowerCase()).digest('hex').slice(0, 32)}`;
  const u: User = {
    id:
      o.id === undefined
        ? derived
        : str(o.id, `${f}.id`, /^kp_[0-9a-f]{32}$/, 'must be kp_ and 32 hex digits'),
    email,
    givenName: str(o.givenName, `${f}.givenName`),
    familyName: o.familyName === undefined ? '' : (optStr(o.familyName, `${f}.familyName`) ?? ''),
    organizations: arr(o.organizations, `${f}.organizations`, true).map((m, i) =>
      membership(m, `${f}.organizations[${i}]`, orgs, roles),
    ),
  };
  if (o.emailVerified !== undefined) {
    if (typeof o.emailVerified !== 'boolean') fail(`${f}.emailVerified`, 'must be true or false');
    u.emailVerified = o.emailVerified;
  }
  for (const k of ['picture', 'providedId', 'username'] as const) {
    if (o[k] === null) u[k] = null;
    else if (o[k] !== undefined) u[k] = str(o[k], `${f}.${k}`);
  }
  if (o.phoneNumber === null) u.phoneNumber = null;
  else if (o.phoneNumber !== undefined)
    u.phoneNumber = str(
      o.phoneNumber,
      `${f}.phoneNumber`,
      PHONE,
      'must be an E.164 number such as +61400000000',
    );
  const props = properties(o.properties, `${f}.properties`);
  if (props) u.properties = props;
  if (o.plans !== undefined) u.plans = planKeys(o.plans, `${f}.plans`, plans);
  if (o.updatedAt !== undefined) u.updatedAt = posInt(o.updatedAt, `${f}.updatedAt`);
  return u;
}

function url(v: unknown, f: string): string {
  const s = str(v, f);
  let parsed: URL;
  try {
    parsed = new URL(s);
  } catch {
    fail(f, 'must be an absolute URL');
  }
  if (!/^https?:$/.test(parsed.protocol)) fail(f, 'must be an http or https URL');
  if (parsed.hash) fail(f, 'must not contain a #fragment');
  return s;
}

const APP_KEYS = ['name', 'clientId', 'clientSecret', 'grants', 'redirectUris', 'logoutUris'];

function application(v: unknown, f: string, orgs: Organization[]): Application {
  const o = obj(v, f, [
    ...APP_KEYS,
    'allowLoopbackRedirects',
    'audiences',
    'orgCode',
    'permissions',
    'managementScopes',
    'persistentSessions',
  ]);
  const clientId = str(
    o.clientId,
    `${f}.clientId`,
    /^[A-Za-z0-9_.-]+$/,
    'must be letters, digits, "_", "." or "-"',
  );
  const grants = (
    o.grants === undefined ? ['authorization_code', 'refresh_token'] : strList(o.grants, `${f}.grants`)
  ).map((g, i) =>
    GRANTS.includes(g as GrantType)
      ? (g as GrantType)
      : fail(`${f}.grants[${i}]`, `must be one of ${GRANTS}`),
  );
  const app: Application = {
    name: optStr(o.name, `${f}.name`) ?? clientId,
    clientId,
    grants,
    redirectUris: arr(o.redirectUris, `${f}.redirectUris`, true).map((u, i) =>
      url(u, `${f}.redirectUris[${i}]`),
    ),
    logoutUris: arr(o.logoutUris, `${f}.logoutUris`, true).map((u, i) => url(u, `${f}.logoutUris[${i}]`)),
  };
  if (o.clientSecret !== undefined) {
    const hint = 'must be 40-60 letters and digits (Kinde SDKs refuse other secrets)';
    app.clientSecret = str(o.clientSecret, `${f}.clientSecret`, /^[a-zA-Z0-9]{40,60}$/, hint);
  }
  if (grants.includes('client_credentials') && !app.clientSecret) {
    fail(`${f}.clientSecret`, 'is required for the client_credentials grant');
  }
  if (o.allowLoopbackRedirects !== undefined) {
    if (typeof o.allowLoopbackRedirects !== 'boolean')
      fail(`${f}.allowLoopbackRedirects`, 'must be true or false');
    app.allowLoopbackRedirects = o.allowLoopbackRedirects;
  }
  if (o.audiences !== undefined) app.audiences = strList(o.audiences, `${f}.audiences`);
  if (o.permissions !== undefined) app.permissions = strList(o.permissions, `${f}.permissions`);
  if (o.managementScopes !== undefined) {
    app.managementScopes = strList(o.managementScopes, `${f}.managementScopes`);
  }
  if (o.persistentSessions !== undefined) {
    if (typeof o.persistentSessions !== 'boolean') fail(`${f}.persistentSessions`, 'must be true or false');
    app.persistentSessions = o.persistentSessions;
  }
  if (o.orgCode !== undefined) {
    app.orgCode = str(o.orgCode, `${f}.orgCode`);
    if (!orgs.some((g) => g.code === app.orgCode))
      fail(`${f}.orgCode`, `no organization has code "${app.orgCode}"`);
  }
  return app;
}

function webhook(v: unknown, f: string): WebhookConfig {
  const o = obj(v, f, ['endpoint', 'events']);
  const events = strList(o.events, `${f}.events`);
  if (events.length === 0) fail(`${f}.events`, 'must list at least one event type');
  events.forEach((t, i) => {
    if (!isEventType(t)) fail(`${f}.events[${i}]`, `"${t}" is not a Kinde webhook event type`);
  });
  return { endpoint: url(o.endpoint, `${f}.endpoint`), events };
}

function permissionDefinitions(v: unknown): PermissionDefinition[] {
  const list = arr(v, 'permissions').map((p, i) => {
    const f = `permissions[${i}]`;
    const o = obj(p, f, ['key', 'name', 'description']);
    const key = str(o.key, `${f}.key`, KEY_PATTERN, 'must be letters, digits, "_", ":", "." or "-"');
    const def: PermissionDefinition = { id: `perm_${key}`, key, name: optStr(o.name, `${f}.name`) ?? key };
    const description = optStr(o.description, `${f}.description`);
    if (description !== undefined) def.description = description;
    return def;
  });
  unique(list, (x) => x.key, 'permissions', 'key');
  return list;
}

/**
 * Validates a directory read from JSON and fills in defaults (user ids derived from emails, Kinde's
 * token lifetimes, grants). Throws a {@link DirectoryError} naming the first bad field.
 *
 * @example
 * const dir = validateDirectory(JSON.parse(readFileSync('users.json', 'utf8')));
 */
export function validateDirectory(input: unknown): Directory {
  const keys = [
    '$schema',
    'organizations',
    'roles',
    'users',
    'applications',
    'tokenLifetimes',
    'refreshGraceSeconds',
    'webhooks',
    'featureFlags',
    'permissions',
    'plans',
  ];
  const o = obj(input, '(root)', keys);
  const plans = billingPlans(o.plans);
  const organizations = arr(o.organizations, 'organizations', true).map((v, i) =>
    organization(v, `organizations[${i}]`, plans),
  );
  unique(organizations, (x) => x.code, 'organizations', 'code');
  const roles = arr(o.roles, 'roles', true).map((v, i) => role(v, `roles[${i}]`));
  unique(roles, (x) => x.key, 'roles', 'key');
  const users = arr(o.users, 'users').map((v, i) => user(v, `users[${i}]`, organizations, roles, plans));
  unique(users, (x) => x.email, 'users', 'email');
  unique(users, (x) => x.id, 'users', 'id');
  const applications = arr(o.applications, 'applications').map((v, i) =>
    application(v, `applications[${i}]`, organizations),
  );
  if (applications.length === 0) fail('applications', 'must list at least one application');
  unique(applications, (x) => x.clientId, 'applications', 'clientId');
  const lt =
    o.tokenLifetimes === undefined
      ? {}
      : obj(o.tokenLifetimes, 'tokenLifetimes', Object.keys(KINDE_DEFAULT_LIFETIMES));
  const tokenLifetimes = { ...KINDE_DEFAULT_LIFETIMES };
  for (const k of Object.keys(lt) as (keyof typeof tokenLifetimes)[])
    tokenLifetimes[k] = posInt(lt[k], `tokenLifetimes.${k}`);
  const dir: Directory = { organizations, roles, users, applications, tokenLifetimes };
  if (o.refreshGraceSeconds !== undefined)
    dir.refreshGraceSeconds = posInt(o.refreshGraceSeconds, 'refreshGraceSeconds', true);
  if (o.webhooks !== undefined)
    dir.webhooks = arr(o.webhooks, 'webhooks').map((v, i) => webhook(v, `webhooks[${i}]`));
  const envFlags = flags(o.featureFlags, 'featureFlags');
  if (envFlags) dir.featureFlags = envFlags;
  if (o.permissions !== undefined) dir.permissions = permissionDefinitions(o.permissions);
  if (o.plans !== undefined) dir.plans = plans;
  return dir;
}
