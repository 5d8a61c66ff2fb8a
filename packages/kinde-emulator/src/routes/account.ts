import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { type OrgClaims, orgClaims } from '../directory.js';
import { portalRoutes } from './portal.js';
import { bearerUser } from './profile.js';

const FLAG_TYPES = { b: 'boolean', i: 'integer', s: 'string' } as const;

function page(data: unknown) {
  return { data, metadata: { has_more: false, next_page_starting_after: null } };
}

async function claimsFor(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<{ org: OrgClaims | undefined; orgCode: string | null } | undefined> {
  const found = await bearerUser(ctx, request, reply);
  if (!found) return undefined;
  const org = found.orgCode ? orgClaims(ctx.directory, found.user, found.orgCode) : undefined;
  return { org, orgCode: found.orgCode ?? null };
}

function permissionItems(org: OrgClaims | undefined) {
  return (org?.permissions ?? []).map((key) => ({ id: `perm_${key}`, name: key, key }));
}

/**
 * Registers the Kinde Account API subset the SDKs call with `forceApi` (`/account_api/v1/...`),
 * answering from the directory for the token's user and organization, plus the portal link (`portal.ts`).
 */
export function accountRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const route = (
    path: string,
    build: (c: { org: OrgClaims | undefined; orgCode: string | null }, req: FastifyRequest) => unknown,
  ) =>
    app.get(`/account_api/v1/${path}`, async (request, reply) => {
      const c = await claimsFor(ctx, request, reply);
      if (!c) return reply;
      return reply.header('cache-control', 'no-store').send(page(build(c, request)));
    });
  route('permissions', (c) => ({ org_code: c.orgCode, permissions: permissionItems(c.org) }));
  route('permission/:key', (c, req) => {
    const key = (req.params as { key: string }).key;
    return {
      org_code: c.orgCode,
      permission: key,
      is_granted: permissionItems(c.org).some((p) => p.key === key),
    };
  });
  route('roles', (c) => ({ org_code: c.orgCode, roles: c.org?.roles ?? [] }));
  route('feature_flags', (c) => ({
    feature_flags: Object.entries(c.org?.featureFlags ?? {}).map(([key, f]) => ({
      id: `flag_${key}`,
      name: key,
      key,
      type: FLAG_TYPES[f.t],
      value: f.v,
    })),
  }));
  route('entitlements', (c) => ({ org_code: c.orgCode, plans: [], entitlements: [] }));
  route('entitlement/:key', (c) => ({ org_code: c.orgCode, entitlement: null }));
  portalRoutes(app, ctx);
}
