import { randomBytes } from 'node:crypto';
import type { Directory, FlagValue, Membership, User } from 'kinde-emulator';
import { type DirectoryPatch, KindeTestError } from './provider.js';

/** A user to create in the emulator (or to update, matched by `id` or `email`). */
export interface TestUser {
  email: string;
  givenName?: string;
  familyName?: string;
  /** `kp_` and 32 hex digits; derived from the email when left out. */
  id?: string;
  picture?: string | null;
}

/** Who signs in, and what they may do: shared by `signIn` and `bearerFor`. */
export interface IdentityOptions {
  /** A user already in the emulator's directory (e.g. `admin@example.test`). Unknown: an error. */
  email?: string;
  /** A user to create or update. Neither `email` nor `user`: a fresh user for this call. */
  user?: TestUser;
  /** Exactly these permissions in `org` (written to the directory, as an admin would in Kinde). */
  permissions?: string[];
  /** Exactly these role keys in `org`; unknown keys become roles. */
  roles?: string[];
  /** Exactly these feature flags in `org` (boolean, integer or string). */
  flags?: Record<string, FlagValue>;
  /** The organization to sign in to (created if missing); default the user's first, or the directory's. */
  org?: string;
}

/** What the flow needs once the directory holds the user. */
export interface Identity {
  userId: string;
  email: string;
  orgCode: string | undefined;
  /** Directory changes to make first, if any. */
  patch: DirectoryPatch | undefined;
}

/** The options that say who signs in. */
export const IDENTITY_KEYS: readonly string[] = ['email', 'user', 'permissions', 'roles', 'flags', 'org'];
const ORG_CODE = /^org_[A-Za-z0-9]+$/;

function fail(what: string, message: string): never {
  throw new KindeTestError(`${what}: ${message}`);
}

/** `value` when it is undefined or an array of non-empty strings; otherwise a clear error. */
export function stringList(what: string, name: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.trim() === '')) {
    fail(what, `"${name}" must be an array of non-empty strings, got ${JSON.stringify(value)}`);
  }
  return value as string[];
}

function flagsOf(what: string, value: unknown): Record<string, FlagValue> | undefined {
  if (value === undefined) return undefined;
  if (!value || typeof value !== 'object' || Array.isArray(value)) fail(what, '"flags" must be an object');
  for (const [code, flag] of Object.entries(value)) {
    const ok = typeof flag === 'boolean' || typeof flag === 'string' || Number.isInteger(flag);
    if (!ok) fail(what, `flag "${code}" must be a boolean, an integer or a string`);
  }
  return value as Record<string, FlagValue>;
}

/** Refuses an `org` that is not an organization code. */
export function checkOrg(what: string, org: unknown): void {
  if (org !== undefined && (typeof org !== 'string' || !ORG_CODE.test(org))) {
    fail(what, `"org" must be an organization code like org_acme, got ${JSON.stringify(org)}`);
  }
}

/** Refuses options the kit does not know (a typo would otherwise sign in with other rights). */
export function checkKeys(what: string, options: object, allowed: readonly string[]): void {
  if (!options || typeof options !== 'object' || Array.isArray(options))
    fail(what, 'options must be an object');
  const unknown = Object.keys(options).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) fail(what, `unknown option "${unknown[0]}" (known: ${allowed.join(', ')})`);
}

function testUser(what: string, value: unknown): TestUser {
  if (!value || typeof value !== 'object' || Array.isArray(value)) fail(what, '"user" must be an object');
  const u = value as Record<string, unknown>;
  if (typeof u.email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(u.email)) {
    fail(what, `"user.email" must be an email address, got ${JSON.stringify(u.email)}`);
  }
  return u as unknown as TestUser;
}

function existing(what: string, dir: Directory, email: unknown): User {
  if (typeof email !== 'string' || email === '') fail(what, '"email" must be a non-empty string');
  const lower = email.toLowerCase();
  const user = dir.users.find((u) => u.email.toLowerCase() === lower || u.id === email);
  if (user) return user;
  const known = dir.users.slice(0, 10).map((u) => u.email);
  return fail(
    what,
    `no user "${email}" in the emulator's directory (known: ${known.join(', ') || 'none'}); ` +
      'pass { user: { email } } to create one',
  );
}

function membershipFor(base: Membership | undefined, orgCode: string, o: IdentityOptions): Membership {
  const m: Membership = base ? { ...base } : { orgCode, permissions: [], roles: [] };
  if (o.permissions) m.permissions = [...o.permissions];
  if (o.roles) m.roles = [...o.roles];
  if (o.flags) m.featureFlags = { ...o.flags };
  return m;
}

/**
 * Works out which directory user signs in, to which organization, and what must change in the
 * directory first (a new user, new grants, a new organization or role).
 */
export function planIdentity(what: string, dir: Directory, o: IdentityOptions): Identity {
  if (o.email !== undefined && o.user !== undefined) fail(what, 'pass "email" or "user", not both');
  const permissions = stringList(what, 'permissions', o.permissions);
  const roles = stringList(what, 'roles', o.roles);
  const flags = flagsOf(what, o.flags);
  checkOrg(what, o.org);
  const given = o.user === undefined ? undefined : testUser(what, o.user);
  const found = o.email !== undefined ? existing(what, dir, o.email) : undefined;
  const lower = given?.email.toLowerCase();
  const base = found ?? dir.users.find((u) => u.email.toLowerCase() === lower || u.id === given?.id);
  const email = found?.email ?? given?.email ?? `test-${randomBytes(6).toString('hex')}@example.test`;
  const orgCode = o.org ?? base?.organizations[0]?.orgCode ?? dir.organizations[0]?.code;
  const current = base?.organizations.find((m) => m.orgCode === orgCode);
  const grants = permissions !== undefined || roles !== undefined || flags !== undefined;
  const patch: DirectoryPatch = {};
  if (orgCode && !dir.organizations.some((org) => org.code === orgCode)) {
    patch.organizations = [{ code: orgCode, name: orgCode }];
  }
  const newRoles = (roles ?? []).filter((key) => !dir.roles.some((r) => r.key === key));
  if (newRoles.length > 0) patch.roles = newRoles.map((key) => ({ id: `role_${key}`, key, name: key }));
  if (!base || given || grants || (orgCode && !current)) {
    const memberships = (base?.organizations ?? []).filter((m) => m.orgCode !== orgCode);
    const user: Record<string, unknown> = {
      ...(base ? { id: base.id } : {}),
      email,
      givenName: given?.givenName ?? base?.givenName ?? 'Test',
      familyName: given?.familyName ?? base?.familyName ?? 'User',
      ...(given?.id ? { id: given.id } : {}),
      ...(given?.picture !== undefined ? { picture: given.picture } : {}),
      organizations: orgCode
        ? [membershipFor(current, orgCode, { permissions, roles, flags }), ...memberships]
        : memberships,
    };
    patch.users = [user];
  }
  const changed = Object.keys(patch).length > 0;
  return { userId: base?.id ?? given?.id ?? '', email, orgCode, patch: changed ? patch : undefined };
}

/** The directory user for `email` once the patch is in (its id may have been derived). */
export function userIn(dir: Directory, email: string): User {
  const lower = email.toLowerCase();
  const user = dir.users.find((u) => u.email.toLowerCase() === lower);
  if (!user) throw new KindeTestError(`the emulator has no user "${email}" after adding it`);
  return user;
}
