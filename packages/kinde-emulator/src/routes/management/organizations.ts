import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../../context.js';
import { fullName } from '../../directory.js';
import {
  addOrganizationUsers,
  assignPermission,
  assignRole,
  createOrganization,
  flagCatalog,
  permissionCatalog,
  removeOrganizationUser,
  removePermission,
  removeRole,
  setFeatureFlag,
} from '../../directory-writes.js';
import type { Organization } from '../../types.js';
import { route } from './auth.js';
import { ApiError, csv, expand, jsonBody, ok, paginate, query, sortBy, str, strArray } from './common.js';

function orgItem(ctx: EmulatorContext, org: Organization) {
  return {
    code: org.code,
    name: org.name,
    handle: null,
    // The first organization plays Kinde's default organization.
    is_default: ctx.directory.organizations[0]?.code === org.code,
    external_id: null,
    is_auto_membership_enabled: false,
  };
}

function requireOrg(ctx: EmulatorContext, code: string): Organization {
  const org = ctx.directory.organizations.find((o) => o.code === code);
  if (!org) throw new ApiError(404, 'ORGANIZATION_NOT_FOUND', `No organization has code "${code}"`);
  return org;
}

function params(request: FastifyRequest): Record<string, string> {
  return request.params as Record<string, string>;
}

function members(ctx: EmulatorContext, orgCode: string, q: Record<string, unknown>) {
  const roles = csv(q, 'roles');
  const permissions = csv(q, 'permissions');
  const list = ctx.directory.users.flatMap((u) => {
    const m = u.organizations.find((x) => x.orgCode === orgCode);
    if (!m) return [];
    if (!roles.every((r) => m.roles.includes(r))) return [];
    if (!permissions.every((p) => m.permissions.includes(p))) return [];
    return [
      {
        id: u.id,
        email: u.email,
        full_name: fullName(u),
        last_name: u.familyName,
        first_name: u.givenName,
        picture: u.picture ?? null,
        last_accessed_on: null,
        is_suspended: false,
        roles: [...m.roles],
      },
    ];
  });
  return sortBy(q, list, { name: (x) => x.full_name, email: (x) => x.email });
}

function membership(ctx: EmulatorContext, request: FastifyRequest) {
  const { org_code, user_id } = params(request);
  requireOrg(ctx, org_code as string);
  const user = ctx.directory.users.find((u) => u.id === user_id);
  const m = user?.organizations.find((x) => x.orgCode === org_code);
  if (!m)
    throw new ApiError(404, 'USER_NOT_IN_ORGANIZATION', `User "${user_id}" is not a member of "${org_code}"`);
  return m;
}

function isMember(ctx: EmulatorContext, orgCode: string, userId: string): boolean {
  return ctx.directory.users.some(
    (u) => u.id === userId && u.organizations.some((m) => m.orgCode === orgCode),
  );
}

/** PATCH: adds or updates members, and removes those with `operation: "delete"`. */
function updateMembers(ctx: EmulatorContext, code: string, body: Record<string, unknown>) {
  requireOrg(ctx, code);
  const entries = usersToAdd(body);
  const ops = (body.users as Record<string, unknown>[]).map((u) => str(u, 'operation'));
  const bad = ops.find((op) => op !== undefined && op !== 'delete');
  if (bad !== undefined) throw new ApiError(400, 'INVALID_REQUEST', `operation "${bad}" is not "delete"`);
  const removing = entries.filter((_, i) => ops[i] === 'delete');
  const upserting = entries.filter((_, i) => ops[i] !== 'delete');
  const updated = upserting.filter((e) => isMember(ctx, code, e.id)).map((e) => e.id);
  // Check removals first and add before removing, so a bad entry changes nothing.
  const stranger = removing.find((e) => !isMember(ctx, code, e.id));
  if (stranger) throw new ApiError(404, 'USER_NOT_IN_ORGANIZATION', `User "${stranger.id}" is not a member`);
  const added = addOrganizationUsers(ctx, code, upserting);
  for (const e of removing) removeOrganizationUser(ctx, code, e.id);
  const users_removed = removing.map((e) => e.id);
  return ok({ users_added: added, users_updated: updated, users_removed }, 'Users successfully updated');
}

function usersToAdd(body: Record<string, unknown>) {
  const users = body.users;
  if (!Array.isArray(users) || users.length === 0) {
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      '"users" must be a non-empty array of {id, roles?, permissions?}',
    );
  }
  return users.map((u) => {
    if (!u || typeof u !== 'object' || Array.isArray(u)) {
      throw new ApiError(400, 'INVALID_REQUEST', 'Each entry of "users" must be an object');
    }
    const o = u as Record<string, unknown>;
    return { id: str(o, 'id', true), roles: strArray(o, 'roles'), permissions: strArray(o, 'permissions') };
  });
}

function orgFlags(ctx: EmulatorContext, org: Organization) {
  const out: Record<string, { type: string; value: string }> = {};
  for (const [key, def] of flagCatalog(ctx)) {
    const value = org.featureFlags?.[key] ?? def.value;
    if (value !== undefined) out[key] = { type: def.type, value: String(value) };
  }
  return out;
}

/** Organizations, their members, members' roles and permissions, and organization flag overrides. */
export function organizationRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  route(app, ctx, 'GET', '/organizations', 'read:organizations', (request) => {
    const q = query(request);
    const list = sortBy(q, ctx.directory.organizations, { name: (o) => o.name, email: (o) => o.name });
    const page = paginate(q, list);
    return ok({ organizations: page.items.map((o) => orgItem(ctx, o)), next_token: page.next_token });
  });
  route(app, ctx, 'GET', '/organization', 'read:organizations', (request) => {
    const q = query(request);
    expand(q, ['billing']);
    const org = requireOrg(ctx, str(q, 'code', true));
    return { ...orgItem(ctx, org), is_suspended: false, logo: null, logo_dark: null };
  });
  route(app, ctx, 'POST', '/organization', 'create:organizations', (request) => {
    const body = jsonBody(request);
    if (body.feature_flags !== undefined) {
      throw new ApiError(400, 'NOT_SUPPORTED', 'Set organization flags with the feature flag override call');
    }
    const org = createOrganization(ctx, str(body, 'name', true));
    return ok({ organization: { code: org.code } }, 'Success', 'OK');
  });
  route(app, ctx, 'GET', '/organizations/:org_code/users', 'read:organization_users', (request) => {
    const q = query(request);
    const code = params(request).org_code as string;
    requireOrg(ctx, code);
    const page = paginate(q, members(ctx, code, q));
    return ok({ organization_users: page.items, next_token: page.next_token });
  });
  route(app, ctx, 'POST', '/organizations/:org_code/users', 'create:organization_users', (request) => {
    const code = params(request).org_code as string;
    requireOrg(ctx, code);
    const added = addOrganizationUsers(ctx, code, usersToAdd(jsonBody(request)));
    return ok({ users_added: added }, 'Users successfully added');
  });
  route(app, ctx, 'PATCH', '/organizations/:org_code/users', 'update:organization_users', (request) =>
    updateMembers(ctx, params(request).org_code as string, jsonBody(request)),
  );
  route(
    app,
    ctx,
    'DELETE',
    '/organizations/:org_code/users/:user_id',
    'delete:organization_users',
    (request) => {
      const { org_code, user_id } = params(request);
      removeOrganizationUser(ctx, org_code as string, user_id as string);
      return ok({}, 'User successfully removed from organization');
    },
  );
  memberRoleRoutes(app, ctx);
  memberPermissionRoutes(app, ctx);
  route(
    app,
    ctx,
    'GET',
    '/organizations/:org_code/feature_flags',
    'read:organization_feature_flags',
    (request) => {
      return ok({ feature_flags: orgFlags(ctx, requireOrg(ctx, params(request).org_code as string)) });
    },
  );
  const flagUrl = '/organizations/:org_code/feature_flags/:key';
  route(app, ctx, 'PATCH', flagUrl, 'update:organization_feature_flags', (request) => {
    const { org_code, key } = params(request);
    setFeatureFlag(ctx, 'organization', key as string, str(query(request), 'value', true), org_code);
    return ok({}, 'Feature flag override successfully updated');
  });
}

function memberRoleRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const url = '/organizations/:org_code/users/:user_id/roles';
  route(app, ctx, 'GET', url, 'read:organization_user_roles', (request) => {
    const m = membership(ctx, request);
    const roles = m.roles.flatMap((key) => ctx.directory.roles.filter((r) => r.key === key));
    return ok({ roles: roles.map((r) => ({ id: r.id, key: r.key, name: r.name })) });
  });
  route(app, ctx, 'POST', url, 'create:organization_user_roles', (request) => {
    const { org_code, user_id } = params(request);
    assignRole(ctx, org_code as string, user_id as string, str(jsonBody(request), 'role_id', true));
    return ok({}, 'Role successfully added');
  });
  route(app, ctx, 'DELETE', `${url}/:role_id`, 'delete:organization_user_roles', (request) => {
    const { org_code, user_id, role_id } = params(request);
    removeRole(ctx, org_code as string, user_id as string, role_id as string);
    return ok({}, 'User role successfully deleted');
  });
}

function memberPermissionRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const url = '/organizations/:org_code/users/:user_id/permissions';
  route(app, ctx, 'GET', url, 'read:organization_user_permissions', (request) => {
    expand(query(request), ['roles']);
    const m = membership(ctx, request);
    const catalog = permissionCatalog(ctx);
    const list = m.permissions.map((key) => {
      const p = catalog.find((x) => x.key === key) ?? { id: `perm_${key}`, key, name: key };
      return { id: p.id, key: p.key, name: p.name, description: p.description ?? '', roles: [] };
    });
    return ok({ permissions: list });
  });
  route(app, ctx, 'POST', url, 'create:organization_user_permissions', (request) => {
    const { org_code, user_id } = params(request);
    assignPermission(
      ctx,
      org_code as string,
      user_id as string,
      str(jsonBody(request), 'permission_id', true),
    );
    return ok({}, 'User permission successfully updated');
  });
  route(app, ctx, 'DELETE', `${url}/:permission_id`, 'delete:organization_user_permissions', (request) => {
    const { org_code, user_id, permission_id } = params(request);
    removePermission(ctx, org_code as string, user_id as string, permission_id as string);
    return ok({}, 'User permission successfully deleted');
  });
}
