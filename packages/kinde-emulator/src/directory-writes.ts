import { randomBytes } from 'node:crypto';
import type { EmulatorContext } from './context.js';
import { findOrganization, findUser } from './directory.js';
import type { FlagValue, Organization, PermissionDefinition, Role, User } from './types.js';
import { EMAIL_PATTERN, KEY_PATTERN } from './validate.js';

/**
 * Changes to the directory made at run time (Management API, dashboard). Each mutation validates its
 * input, applies it in place (the next token, login and Account API call see it) and tells listeners.
 */

/** A rejected write: HTTP status, a Kinde-style error code and a message for the caller. */
export class WriteError extends Error {
  constructor(
    readonly status: 400 | 404,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'WriteError';
  }
}

/** What changed, for listeners such as a webhook emitter. */
export type DirectoryChange =
  | { kind: 'user.created' | 'user.updated' | 'user.deleted'; user: User }
  | { kind: 'organization.created'; organization: Organization }
  | { kind: 'membership.added' | 'membership.removed'; user: User; orgCode: string }
  | {
      kind: 'membership.role_added' | 'membership.role_removed';
      user: User;
      orgCode: string;
      role: Role;
    }
  | {
      kind: 'membership.permission_added' | 'membership.permission_removed';
      user: User;
      orgCode: string;
      permission: string;
    }
  | { kind: 'permission.created'; permission: PermissionDefinition }
  | { kind: 'feature_flag.set'; key: string; level: FlagLevel; target?: string; value: FlagValue };

/** Where a feature flag value is set. */
export type FlagLevel = 'environment' | 'organization' | 'user';

type Listener = (change: DirectoryChange) => void;
const listeners = new WeakMap<EmulatorContext, Set<Listener>>();

/** Calls `listener` after every successful write on `ctx`; returns a function that unsubscribes. */
export function onDirectoryWrite(ctx: EmulatorContext, listener: Listener): () => void {
  const set = listeners.get(ctx) ?? new Set<Listener>();
  listeners.set(ctx, set);
  set.add(listener);
  return () => set.delete(listener);
}

function emit(ctx: EmulatorContext, change: DirectoryChange): void {
  for (const listener of listeners.get(ctx) ?? []) {
    // A failing listener must not undo or fail a write that already happened.
    try {
      listener(change);
    } catch {}
  }
}

function requireUser(ctx: EmulatorContext, id: string): User {
  const user = ctx.directory.users.find((u) => u.id === id);
  if (!user) throw new WriteError(404, 'USER_NOT_FOUND', `No user has id "${id}"`);
  return user;
}

function requireOrg(ctx: EmulatorContext, code: string): Organization {
  const org = findOrganization(ctx.directory, code);
  if (!org) throw new WriteError(404, 'ORGANIZATION_NOT_FOUND', `No organization has code "${code}"`);
  return org;
}

function requireMembership(ctx: EmulatorContext, orgCode: string, userId: string) {
  requireOrg(ctx, orgCode);
  const user = requireUser(ctx, userId);
  const membership = user.organizations.find((m) => m.orgCode === orgCode);
  if (!membership) {
    throw new WriteError(404, 'USER_NOT_IN_ORGANIZATION', `User "${userId}" is not a member of "${orgCode}"`);
  }
  return { user, membership };
}

function touch(ctx: EmulatorContext, user: User): void {
  user.updatedAt = ctx.clock.now();
}

/** Fields of a new user. */
export interface NewUser {
  email: string;
  givenName?: string;
  familyName?: string;
  picture?: string;
  providedId?: string;
  username?: string;
  /** Organization to join (no roles or permissions). */
  orgCode?: string;
}

/** Creates a user with a fresh `kp_` id. */
export function createUser(ctx: EmulatorContext, input: NewUser): User {
  if (!EMAIL_PATTERN.test(input.email))
    throw new WriteError(400, 'EMAIL_INVALID', 'email must be an email address');
  if (findUser(ctx.directory, input.email)) {
    throw new WriteError(400, 'USER_ALREADY_EXISTS', `A user with email "${input.email}" already exists`);
  }
  if (input.orgCode) requireOrg(ctx, input.orgCode);
  const user: User = {
    id: `kp_${randomBytes(16).toString('hex')}`,
    email: input.email,
    givenName: input.givenName ?? '',
    familyName: input.familyName ?? '',
    emailVerified: true,
    picture: input.picture ?? null,
    providedId: input.providedId ?? null,
    username: input.username ?? null,
    updatedAt: ctx.clock.now(),
    organizations: input.orgCode ? [{ orgCode: input.orgCode, permissions: [], roles: [] }] : [],
  };
  ctx.directory.users.push(user);
  emit(ctx, { kind: 'user.created', user });
  return user;
}

/** Profile fields that can change. */
export type UserPatch = Partial<Pick<User, 'givenName' | 'familyName' | 'picture' | 'providedId'>>;

/** Updates a user's profile. */
export function updateUser(ctx: EmulatorContext, id: string, patch: UserPatch): User {
  const user = requireUser(ctx, id);
  Object.assign(user, patch);
  touch(ctx, user);
  emit(ctx, { kind: 'user.updated', user });
  return user;
}

/** Deletes a user: their refresh tokens and SSO sessions stop working (the user no longer exists). */
export function deleteUser(ctx: EmulatorContext, id: string): User {
  const user = requireUser(ctx, id);
  ctx.directory.users.splice(ctx.directory.users.indexOf(user), 1);
  emit(ctx, { kind: 'user.deleted', user });
  return user;
}

/** Creates an organization with a Kinde-like code (`org_` + 11 hex digits) unless one is given. */
export function createOrganization(ctx: EmulatorContext, name: string, code?: string): Organization {
  if (!name.trim()) throw new WriteError(400, 'NAME_REQUIRED', 'name must not be empty');
  const orgCode = code ?? `org_${randomBytes(6).toString('hex').slice(0, 11)}`;
  if (!/^org_[A-Za-z0-9]+$/.test(orgCode)) {
    throw new WriteError(400, 'ORGANIZATION_CODE_INVALID', 'code must look like org_0123abcd');
  }
  if (findOrganization(ctx.directory, orgCode)) {
    throw new WriteError(400, 'ORGANIZATION_ALREADY_EXISTS', `Organization "${orgCode}" already exists`);
  }
  const organization: Organization = { code: orgCode, name };
  ctx.directory.organizations.push(organization);
  emit(ctx, { kind: 'organization.created', organization });
  return organization;
}

function roleByKey(ctx: EmulatorContext, key: string): Role {
  const role = ctx.directory.roles.find((r) => r.key === key);
  if (!role) throw new WriteError(400, 'ROLE_INVALID', `No role has key "${key}"`);
  return role;
}

/** Adds users to an organization (all or nothing); returns the ids that were not members yet. */
export function addOrganizationUsers(
  ctx: EmulatorContext,
  orgCode: string,
  entries: { id: string; roles: string[]; permissions: string[] }[],
): string[] {
  requireOrg(ctx, orgCode);
  const resolved = entries.map((e) => {
    const user = ctx.directory.users.find((u) => u.id === e.id);
    if (!user) throw new WriteError(400, 'USER_INVALID', `No user has id "${e.id}"`);
    for (const k of e.roles) roleByKey(ctx, k);
    const badPermission = e.permissions.find((p) => !KEY_PATTERN.test(p));
    if (badPermission !== undefined) {
      throw new WriteError(400, 'PERMISSION_INVALID', `"${badPermission}" is not a permission key`);
    }
    return { user, ...e };
  });
  const added: string[] = [];
  for (const { user, roles, permissions } of resolved) {
    let m = user.organizations.find((x) => x.orgCode === orgCode);
    const joined = !m;
    if (!m) {
      m = { orgCode, roles: [], permissions: [] };
      user.organizations.push(m);
      added.push(user.id);
    }
    const newRoles = [...new Set(roles)].filter((k) => !m.roles.includes(k));
    const newPermissions = [...new Set(permissions)].filter((k) => !m.permissions.includes(k));
    m.roles.push(...newRoles);
    m.permissions.push(...newPermissions);
    // After the grants, so listeners see the membership as this call leaves it.
    if (joined) {
      emit(ctx, { kind: 'membership.added', user, orgCode });
      continue;
    }
    for (const key of newRoles)
      emit(ctx, { kind: 'membership.role_added', user, orgCode, role: roleByKey(ctx, key) });
    for (const permission of newPermissions) {
      emit(ctx, { kind: 'membership.permission_added', user, orgCode, permission });
    }
  }
  return added;
}

/** Removes a user from an organization. */
export function removeOrganizationUser(ctx: EmulatorContext, orgCode: string, userId: string): void {
  const { user, membership } = requireMembership(ctx, orgCode, userId);
  user.organizations.splice(user.organizations.indexOf(membership), 1);
  emit(ctx, { kind: 'membership.removed', user, orgCode });
}

function roleById(ctx: EmulatorContext, id: string): Role {
  const role = ctx.directory.roles.find((r) => r.id === id);
  if (!role) throw new WriteError(404, 'ROLE_NOT_FOUND', `No role has id "${id}"`);
  return role;
}

/** Gives a member a role (by role id); giving it twice is a no-op. */
export function assignRole(ctx: EmulatorContext, orgCode: string, userId: string, roleId: string): void {
  const { user, membership } = requireMembership(ctx, orgCode, userId);
  const role = roleById(ctx, roleId);
  if (membership.roles.includes(role.key)) return;
  membership.roles.push(role.key);
  emit(ctx, { kind: 'membership.role_added', user, orgCode, role });
}

/** Takes a role (by role id) from a member. */
export function removeRole(ctx: EmulatorContext, orgCode: string, userId: string, roleId: string): void {
  const { user, membership } = requireMembership(ctx, orgCode, userId);
  const role = roleById(ctx, roleId);
  if (!membership.roles.includes(role.key)) {
    throw new WriteError(404, 'ROLE_NOT_ASSIGNED', `User "${userId}" does not have role "${role.key}"`);
  }
  membership.roles = membership.roles.filter((k) => k !== role.key);
  emit(ctx, { kind: 'membership.role_removed', user, orgCode, role });
}

/** Every permission the environment knows: created ones, then keys used in memberships. */
export function permissionCatalog(ctx: EmulatorContext): PermissionDefinition[] {
  const out = new Map<string, PermissionDefinition>();
  for (const p of ctx.directory.permissions ?? []) out.set(p.key, p);
  for (const u of ctx.directory.users)
    for (const m of u.organizations)
      for (const key of m.permissions) if (!out.has(key)) out.set(key, { id: `perm_${key}`, key, name: key });
  return [...out.values()];
}

function permissionById(ctx: EmulatorContext, id: string): PermissionDefinition {
  const p = permissionCatalog(ctx).find((x) => x.id === id);
  if (!p) throw new WriteError(404, 'PERMISSION_NOT_FOUND', `No permission has id "${id}"`);
  return p;
}

/** Defines a permission (its id is `perm_<key>`). */
export function createPermission(
  ctx: EmulatorContext,
  input: { key: string; name?: string; description?: string },
): PermissionDefinition {
  if (!KEY_PATTERN.test(input.key)) {
    throw new WriteError(
      400,
      'PERMISSION_KEY_INVALID',
      'key must be 1-128 letters, digits, "_", ":", "." or "-"',
    );
  }
  if (permissionCatalog(ctx).some((p) => p.key === input.key)) {
    throw new WriteError(400, 'PERMISSION_ALREADY_EXISTS', `Permission "${input.key}" already exists`);
  }
  const permission: PermissionDefinition = {
    id: `perm_${input.key}`,
    key: input.key,
    name: input.name ?? input.key,
  };
  if (input.description !== undefined) permission.description = input.description;
  ctx.directory.permissions = [...(ctx.directory.permissions ?? []), permission];
  emit(ctx, { kind: 'permission.created', permission });
  return permission;
}

/** Grants a member a permission (by permission id); granting it twice is a no-op. */
export function assignPermission(ctx: EmulatorContext, orgCode: string, userId: string, id: string): void {
  const { user, membership } = requireMembership(ctx, orgCode, userId);
  const { key } = permissionById(ctx, id);
  if (membership.permissions.includes(key)) return;
  membership.permissions.push(key);
  emit(ctx, { kind: 'membership.permission_added', user, orgCode, permission: key });
}

/** Takes a permission (by permission id) from a member. */
export function removePermission(ctx: EmulatorContext, orgCode: string, userId: string, id: string): void {
  const { user, membership } = requireMembership(ctx, orgCode, userId);
  const { key } = permissionById(ctx, id);
  if (!membership.permissions.includes(key)) {
    throw new WriteError(
      404,
      'PERMISSION_NOT_ASSIGNED',
      `User "${userId}" does not have permission "${key}"`,
    );
  }
  membership.permissions = membership.permissions.filter((k) => k !== key);
  emit(ctx, { kind: 'membership.permission_removed', user, orgCode, permission: key });
}

/** Kinde's names for flag types. */
export type FlagType = 'bool' | 'int' | 'str';

/** The Kinde type of a flag value. */
export function flagType(value: FlagValue): FlagType {
  if (typeof value === 'boolean') return 'bool';
  return typeof value === 'number' ? 'int' : 'str';
}

/** Every flag the environment knows, with its type and its environment-level value if one is set. */
export function flagCatalog(ctx: EmulatorContext): Map<string, { type: FlagType; value?: FlagValue }> {
  const out = new Map<string, { type: FlagType; value?: FlagValue }>();
  for (const [key, value] of Object.entries(ctx.directory.featureFlags ?? {})) {
    out.set(key, { type: flagType(value), value });
  }
  const elsewhere = [
    ...ctx.directory.organizations.map((o) => o.featureFlags),
    ...ctx.directory.users.flatMap((u) => u.organizations.map((m) => m.featureFlags)),
  ];
  for (const flags of elsewhere)
    for (const [key, value] of Object.entries(flags ?? {}))
      if (!out.has(key)) out.set(key, { type: flagType(value) });
  return out;
}

/** Parses a flag value sent as a string (`true`, `42`, `pink`) for a flag of `type`. */
export function parseFlagValue(type: FlagType, raw: string): FlagValue {
  if (type === 'bool') {
    if (raw !== 'true' && raw !== 'false') {
      throw new WriteError(400, 'FLAG_VALUE_INVALID', 'A bool flag takes "true" or "false"');
    }
    return raw === 'true';
  }
  if (type === 'int') {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n)) {
      throw new WriteError(400, 'FLAG_VALUE_INVALID', 'An int flag takes an integer');
    }
    return n;
  }
  return raw;
}

/** Defines a flag with its environment-level default value. */
export function createFeatureFlag(ctx: EmulatorContext, key: string, type: FlagType, raw: string): FlagValue {
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(key)) {
    throw new WriteError(400, 'FLAG_KEY_INVALID', 'key must be 1-128 letters, digits, "_", "." or "-"');
  }
  if (flagCatalog(ctx).has(key)) {
    throw new WriteError(400, 'FLAG_ALREADY_EXISTS', `Feature flag "${key}" already exists`);
  }
  const value = parseFlagValue(type, raw);
  ctx.directory.featureFlags = { ...ctx.directory.featureFlags, [key]: value };
  emit(ctx, { kind: 'feature_flag.set', key, level: 'environment', value });
  return value;
}

function flagTargets(ctx: EmulatorContext, level: FlagLevel, target: string | undefined) {
  if (level === 'environment') {
    ctx.directory.featureFlags ??= {};
    return [ctx.directory.featureFlags];
  }
  if (level === 'organization') {
    const org = requireOrg(ctx, target ?? '');
    org.featureFlags ??= {};
    return [org.featureFlags];
  }
  // The directory keeps flags per membership: a user override applies in every organization.
  return requireUser(ctx, target ?? '').organizations.map((m) => {
    m.featureFlags ??= {};
    return m.featureFlags;
  });
}

/**
 * Sets a known flag at the environment, an organization (`target` = org code) or a user (`target` =
 * user id); `raw` is parsed for the flag's type.
 */
export function setFeatureFlag(
  ctx: EmulatorContext,
  level: FlagLevel,
  key: string,
  raw: string,
  target?: string,
): FlagValue {
  const known = flagCatalog(ctx).get(key);
  if (!known) throw new WriteError(404, 'FLAG_NOT_FOUND', `No feature flag has key "${key}"`);
  const value = parseFlagValue(known.type, raw);
  for (const flags of flagTargets(ctx, level, target)) flags[key] = value;
  emit(ctx, { kind: 'feature_flag.set', key, level, value, ...(target ? { target } : {}) });
  return value;
}
