import type { KindeEntitlement, KindeEntitlements } from './account-api.js';
import type { FlagValue, KindeRole } from './claims.js';

type Condition<T> = (item: T) => boolean | Promise<boolean>;

/**
 * What `request.kinde.has()` checks, as `@kinde/js-utils`' `has()` takes it: every listed role,
 * permission, feature flag and billing entitlement must be held. An item is a name, or a name with a
 * `condition` called with what the caller holds (a flag: `{ flag, value }`).
 */
export interface KindeHasParams {
  roles?: readonly (string | { role: string; condition: Condition<KindeRole> })[];
  permissions?: readonly (
    | string
    | { permission: string; condition: Condition<{ permissionKey: string; orgCode: string | null }> }
  )[];
  /** A name: the flag is present and not `false`; `{ flag, value }`: it has exactly this value. */
  featureFlags?: readonly (string | { flag: string; value: FlagValue })[];
  /** Entitlements by price name, as js-utils matches them (Account API; the only part that makes a request). */
  billingEntitlements?: readonly (string | { entitlement: string; condition: Condition<KindeEntitlement> })[];
}

/** What `has()` reads from the caller. */
export interface HasSubject {
  roles(): KindeRole[];
  permissions(): { orgCode: string | null; permissions: string[] };
  flags(): Record<string, { v?: unknown } | undefined> | undefined;
  entitlements(): Promise<KindeEntitlements>;
}

const KEYS = ['roles', 'permissions', 'featureFlags', 'billingEntitlements'] as const;
const ITEM_NAME = {
  roles: 'role',
  permissions: 'permission',
  featureFlags: 'flag',
  billingEntitlements: 'entitlement',
};

function bad(message: string): never {
  throw new TypeError(`fastify-kinde: has(): ${message}`);
}

/** Refuses what js-utils would silently read as "nothing required": unknown keys, lists that are not lists, blank names. */
function check(params: KindeHasParams): void {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) bad('give an object');
  for (const key of Object.keys(params)) {
    if (key === 'forceApi')
      bad(
        '"forceApi" is not supported: claims come from the verified tokens; call refreshTokens() for new ones',
      );
    if (!(KEYS as readonly string[]).includes(key)) bad(`unknown key "${key}" (known: ${KEYS.join(', ')})`);
  }
  for (const key of KEYS) {
    const list = params[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) bad(`"${key}" must be a list`);
    const field = ITEM_NAME[key];
    for (const item of list as unknown[]) {
      const name = typeof item === 'string' ? item : (item as Record<string, unknown> | null)?.[field];
      if (typeof name !== 'string' || name.trim() === '') bad(`"${key}" holds a blank or malformed item`);
      if (typeof item === 'object') {
        const extra = key === 'featureFlags' ? 'value' : 'condition';
        const value = (item as Record<string, unknown>)[extra];
        const ok =
          key === 'featureFlags'
            ? ['boolean', 'string', 'number'].includes(typeof value)
            : typeof value === 'function';
        if (!ok)
          bad(`"${key}" item "${name}" needs ${key === 'featureFlags' ? 'a value' : 'a condition function'}`);
      }
    }
  }
}

async function every<T>(
  items: readonly T[],
  test: (item: T) => boolean | Promise<boolean>,
): Promise<boolean> {
  for (const item of items) if ((await test(item)) !== true) return false;
  return true;
}

/**
 * `has()` for a signed-in caller: token parts first, the Account API only when they all pass and
 * entitlements are asked for. Throws a TypeError for malformed params, whoever asks.
 */
export async function hasAll(subject: HasSubject | null, params: KindeHasParams): Promise<boolean> {
  check(params);
  if (subject === null) return false;
  const { roles, permissions, featureFlags, billingEntitlements } = params;
  if (roles?.length) {
    const held = subject.roles();
    const ok = await every(roles, (r) => {
      const role = held.find((h) => h.key === (typeof r === 'string' ? r : r.role));
      return role !== undefined && (typeof r === 'string' || r.condition(role));
    });
    if (!ok) return false;
  }
  if (permissions?.length) {
    const held = subject.permissions();
    const ok = await every(permissions, (p) => {
      const key = typeof p === 'string' ? p : p.permission;
      if (!held.permissions.includes(key)) return false;
      return typeof p === 'string' || p.condition({ permissionKey: key, orgCode: held.orgCode });
    });
    if (!ok) return false;
  }
  if (featureFlags?.length) {
    const flags = subject.flags();
    const ok = featureFlags.every((f) => {
      const flag = flags?.[typeof f === 'string' ? f : f.flag];
      if (flag === undefined || flag === null || flag.v === undefined) return false;
      return typeof f === 'string' ? flag.v !== false : flag.v === f.value;
    });
    if (!ok) return false;
  }
  if (billingEntitlements?.length) {
    const { entitlements } = await subject.entitlements();
    return every(billingEntitlements, (e) => {
      const name = typeof e === 'string' ? e : e.entitlement;
      const held = entitlements.find((h) => h.priceName === name);
      return held !== undefined && (typeof e === 'string' || e.condition(held));
    });
  }
  return true;
}
