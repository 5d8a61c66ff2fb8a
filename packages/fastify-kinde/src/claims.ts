import { KindeAuthError } from './errors.js';
import type { Claims } from './session/record.js';

/** A role as Kinde puts it in the `roles` claim. */
export interface KindeRole {
  id: string;
  key: string;
  name: string;
}

/** The type of a feature flag: Kinde's `t` of `b`, `s` or `i`. */
export type FlagType = 'boolean' | 'string' | 'integer';
/** A flag's value, by type. */
export type FlagValue = boolean | string | number;

/** A feature flag, as Kinde's SDKs return it from `getFlag`. */
export interface KindeFlag<V extends FlagValue = FlagValue> {
  code: string;
  type: FlagType | null;
  value: V;
  /** True when the flag was missing from the token and the default value was used. */
  is_default: boolean;
  defaultValue?: V;
}

const FLAG_TYPES: Record<string, FlagType> = { b: 'boolean', s: 'string', i: 'integer' };

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** The `permissions` claim of an access token (Kinde: string[]). */
export function permissionsOf(access: Claims): string[] {
  return strings(access.permissions);
}

/** The `roles` claim: `[{id,key,name}]`; Hasura-style plain keys are accepted too. */
export function rolesOf(access: Claims): KindeRole[] {
  const claim = access.roles ?? access['x-hasura-roles'];
  if (!Array.isArray(claim)) return [];
  return claim.flatMap((role): KindeRole[] => {
    if (typeof role === 'string') return [{ id: role, key: role, name: role }];
    if (role && typeof role === 'object' && typeof (role as KindeRole).key === 'string') {
      const { id, key, name } = role as KindeRole;
      return [{ id: String(id ?? key), key, name: String(name ?? key) }];
    }
    return [];
  });
}

/** The `org_code` claim, or null. */
export function orgCodeOf(access: Claims): string | null {
  const code = access.org_code ?? access['x-hasura-org-code'];
  return typeof code === 'string' ? code : null;
}

/** The `org_codes` claim of an ID token. */
export function orgCodesOf(id: Claims): string[] {
  return strings(id.org_codes ?? id['x-hasura-org-codes']);
}

function flagTypeOf(value: FlagValue): FlagType {
  if (typeof value === 'boolean') return 'boolean';
  return typeof value === 'number' ? 'integer' : 'string';
}

/**
 * Reads a feature flag from the access token's `feature_flags` claim (`{t, v}`), the way Kinde's
 * SDKs do: a missing flag takes the default value (`is_default: true`); a missing flag without a
 * default, or a flag of another type than `expected`, throws `ERR_FLAG`.
 */
export function flagOf<V extends FlagValue>(
  access: Claims,
  code: string,
  defaultValue?: V,
  expected?: FlagType,
): KindeFlag<V> {
  const flags = access.feature_flags as Record<string, { t?: string; v?: unknown }> | undefined;
  const raw = flags && typeof flags === 'object' ? flags[code] : undefined;
  if (raw === undefined || raw === null || raw.v === undefined) {
    if (defaultValue === undefined) {
      throw new KindeAuthError('ERR_FLAG', `Flag "${code}" was not found and no default value was given`, {
        code,
      });
    }
    const type = expected ?? flagTypeOf(defaultValue);
    return { code, type, value: defaultValue, is_default: true, defaultValue };
  }
  const type = FLAG_TYPES[raw.t ?? ''] ?? flagTypeOf(raw.v as FlagValue);
  if (expected !== undefined && type !== expected) {
    throw new KindeAuthError('ERR_FLAG', `Flag "${code}" is of type ${type}, not ${expected}`, { code });
  }
  return {
    code,
    type,
    value: raw.v as V,
    is_default: false,
    ...(defaultValue !== undefined ? { defaultValue } : {}),
  };
}
