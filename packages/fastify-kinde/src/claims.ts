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

/** Kinde's `{v}` property claims (`user_properties`, `organization_properties`) as plain values. */
function propertyValues(...claims: unknown[]): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const claim of claims) {
    if (claim === null || typeof claim !== 'object' || Array.isArray(claim)) continue;
    for (const [key, property] of Object.entries(claim)) {
      if (key === '__proto__') continue;
      const v =
        property !== null && typeof property === 'object' ? (property as { v?: unknown }).v : undefined;
      if (v !== undefined) values[key] = v;
    }
  }
  return values;
}

/** Kinde's built-in user properties and the short names the Next.js SDK gives them. */
const USER_PROPERTY_NAMES: Readonly<Record<string, string>> = {
  kp_usr_city: 'city',
  kp_usr_industry: 'industry',
  kp_usr_is_marketing_opt_in: 'is_marketing_opt_in',
  kp_usr_job_title: 'job_title',
  kp_usr_middle_name: 'middle_name',
  kp_usr_postcode: 'postcode',
  kp_usr_salutation: 'salutation',
  kp_usr_state_region: 'state_region',
  kp_usr_street_address: 'street_address',
  kp_usr_street_address_2: 'street_address_2',
};
const ORG_PROPERTY_NAMES: Readonly<Record<string, string>> = {
  kp_org_city: 'city',
  kp_org_industry: 'industry',
  kp_org_postcode: 'postcode',
  kp_org_state_region: 'state_region',
  kp_org_street_address: 'street_address',
  kp_org_street_address_2: 'street_address_2',
};

/** Each property under its Kinde key, plus Kinde's built-in ones under their short names (as the Next.js SDK does). */
function withShortNames(values: Record<string, unknown>, names: Readonly<Record<string, string>>) {
  const out: Record<string, unknown> = {};
  for (const [key, short] of Object.entries(names)) if (key in values) out[short] = values[key];
  return Object.assign(out, values);
}

/** The user properties of `user_properties` in the ID token and the access token (the access token wins). */
export function userPropertiesOf(id: Claims, access: Claims): Record<string, unknown> {
  const values = propertyValues(
    id.user_properties ?? id['x-hasura-user_properties'],
    access.user_properties ?? access['x-hasura-user_properties'],
  );
  return withShortNames(values, USER_PROPERTY_NAMES);
}

/** The organization properties of `organization_properties` in the ID token and the access token. */
export function organizationPropertiesOf(id: Claims, access: Claims): Record<string, unknown> {
  const values = propertyValues(
    id.organization_properties ?? id['x-hasura-organization_properties'],
    access.organization_properties ?? access['x-hasura-organization_properties'],
  );
  return withShortNames(values, ORG_PROPERTY_NAMES);
}

/** The `org_name` claim of an access token, or null. */
export function orgNameOf(access: Claims): string | null {
  const name = access.org_name ?? access['x-hasura-org-name'];
  return typeof name === 'string' ? name : null;
}

/** An organization of the `organizations` claim of an ID token: `{code, name}` as the Next.js SDK names them. */
export interface KindeOrganizationRef {
  code: string;
  name: string | null;
}

/** The `organizations` claim of an ID token (`[{id, name}]`), as `{code, name}`. */
export function organizationsOf(id: Claims): KindeOrganizationRef[] {
  const claim = [id.organizations, id['x-hasura-organizations']].flatMap((c) => (Array.isArray(c) ? c : []));
  return claim.flatMap((org): KindeOrganizationRef[] => {
    if (org === null || typeof org !== 'object' || typeof (org as { id?: unknown }).id !== 'string')
      return [];
    const { id: code, name } = org as { id: string; name?: unknown };
    return [{ code, name: typeof name === 'string' ? name : null }];
  });
}
