import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../../context.js';
import {
  createFeatureFlag,
  createPermission,
  type FlagType,
  flagCatalog,
  permissionCatalog,
  setFeatureFlag,
} from '../../directory-writes.js';
import type { Application } from '../../types.js';
import { route } from './auth.js';
import { ApiError, jsonBody, ok, paginate, query, sortBy, str } from './common.js';

/** Kinde's application types: machine to machine, back-end (with a secret), or single-page (public). */
function appType(app: Application): 'm2m' | 'reg' | 'spa' {
  if (!app.clientSecret) return 'spa';
  const userGrants = app.grants.some((g) => g !== 'client_credentials');
  return userGrants ? 'reg' : 'm2m';
}

function environmentFlags(ctx: EmulatorContext) {
  const out: Record<string, { type: FlagType; value?: string }> = {};
  for (const [key, def] of flagCatalog(ctx)) {
    out[key] = def.value === undefined ? { type: def.type } : { type: def.type, value: String(def.value) };
  }
  return out;
}

function flagTypeOf(raw: string | undefined): FlagType {
  if (raw === 'bool' || raw === 'int' || raw === 'str') return raw;
  throw new ApiError(400, 'INVALID_REQUEST', '"type" must be "bool", "int" or "str"');
}

/** Roles, permissions, applications and environment feature flags. */
export function catalogRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  route(app, ctx, 'GET', '/roles', 'read:roles', (request) => {
    const q = query(request);
    const roles = sortBy(q, ctx.directory.roles, { name: (r) => r.name, key: (r) => r.key });
    const page = paginate(q, roles);
    const items = page.items.map((r) => ({ ...r, description: null, is_default_role: false }));
    return ok({ roles: items, next_token: page.next_token });
  });
  route(app, ctx, 'GET', '/permissions', 'read:permissions', (request) => {
    const q = query(request);
    const list = sortBy(q, permissionCatalog(ctx), { name: (p) => p.name, id: (p) => p.id });
    const page = paginate(q, list);
    const items = page.items.map((p) => ({
      id: p.id,
      key: p.key,
      name: p.name,
      description: p.description ?? '',
    }));
    return ok({ permissions: items, next_token: page.next_token });
  });
  route(app, ctx, 'POST', '/permissions', 'create:permissions', (request) => {
    const body = jsonBody(request);
    createPermission(ctx, {
      key: str(body, 'key', true),
      name: str(body, 'name'),
      description: str(body, 'description'),
    });
    return ok({}, 'Permission successfully created', 'PERMISSION_CREATED');
  });
  route(app, ctx, 'GET', '/applications', 'read:applications', (request) => {
    const q = query(request);
    const page = paginate(q, sortBy(q, ctx.directory.applications, { name: (a) => a.name }));
    const items = page.items.map((a) => ({ id: a.clientId, name: a.name, type: appType(a) }));
    return ok({ applications: items, next_token: page.next_token });
  });
  route(app, ctx, 'GET', '/applications/:application_id', 'read:applications', (request) => {
    const id = (request.params as { application_id: string }).application_id;
    const a = ctx.directory.applications.find((x) => x.clientId === id);
    if (!a) throw new ApiError(404, 'APPLICATION_NOT_FOUND', `No application has id "${id}"`);
    const application = { id: a.clientId, name: a.name, type: appType(a), client_id: a.clientId };
    return ok({
      application: a.clientSecret ? { ...application, client_secret: a.clientSecret } : application,
    });
  });
  route(app, ctx, 'GET', '/environment/feature_flags', 'read:environment_feature_flags', () =>
    ok({ feature_flags: environmentFlags(ctx) }),
  );
  const url = '/environment/feature_flags/:key';
  route(app, ctx, 'PATCH', url, 'update:environment_feature_flags', (request) => {
    const key = (request.params as { key: string }).key;
    setFeatureFlag(ctx, 'environment', key, str(jsonBody(request), 'value', true));
    return ok({}, 'Feature flag override successfully updated');
  });
  route(app, ctx, 'POST', '/feature_flags', 'create:feature_flags', (request) => {
    const body = jsonBody(request);
    str(body, 'name', true);
    const type = flagTypeOf(str(body, 'type', true));
    createFeatureFlag(ctx, str(body, 'key', true), type, str(body, 'default_value', true));
    return ok({}, 'Feature flag successfully created', 'FEATURE_FLAG_CREATED');
  });
}
