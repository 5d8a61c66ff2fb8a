import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { findOrganization, type OrgClaims, orgClaims } from '../directory.js';
import type { BillingPlan, Directory, PlanEntitlement, User } from '../types.js';
import { portalRoutes } from './portal.js';
import { bearerUser } from './profile.js';

const FLAG_TYPES = { b: 'boolean', i: 'integer', s: 'string' } as const;

function page(data: unknown) {
  return { data, metadata: { has_more: false, next_page_starting_after: null } };
}

/** When plans count as subscribed to: the emulator has no billing history. */
const SUBSCRIBED_ON = new Date().toISOString();
const DEFAULT_PAGE_SIZE = 10;
const MAX_PAGE_SIZE = 100;

/** The Account API's form of an entitlement of `plan`. */
function entitlementItem(plan: BillingPlan, e: PlanEntitlement) {
  return {
    id: `entitlement_${createHash('sha256').update(`${plan.key}\0${e.featureKey}`).digest('hex').slice(0, 32)}`,
    fixed_charge: e.fixedCharge ?? 0,
    price_name: e.priceName ?? e.featureName ?? e.featureKey,
    unit_amount: e.unitAmount ?? 0,
    feature_key: e.featureKey,
    feature_name: e.featureName ?? e.featureKey,
    entitlement_limit_max: e.limitMax ?? null,
    entitlement_limit_min: e.limitMin ?? null,
  };
}

/** The plans of the user and of the organization of their token, and every entitlement they give. */
function billingOf(dir: Directory, user: User, orgCode: string | null) {
  const keys = new Set([
    ...(orgCode ? (findOrganization(dir, orgCode)?.plans ?? []) : []),
    ...(user.plans ?? []),
  ]);
  const plans = (dir.plans ?? []).filter((p) => keys.has(p.key));
  return {
    plans: plans.map((p) => ({ key: p.key, subscribed_on: SUBSCRIBED_ON })),
    entitlements: plans.flatMap((p) => p.entitlements.map((e) => entitlementItem(p, e))),
  };
}

function badRequest(reply: FastifyReply, description: string): FastifyReply {
  return reply.code(400).send({ error: 'invalid_request', error_description: description });
}

async function claimsFor(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<Claimed | undefined> {
  const found = await bearerUser(ctx, request, reply);
  if (!found) return undefined;
  const org = found.orgCode ? orgClaims(ctx.directory, found.user, found.orgCode) : undefined;
  return { org, orgCode: found.orgCode ?? null, user: found.user };
}

interface Claimed {
  org: OrgClaims | undefined;
  orgCode: string | null;
  user: User;
}

function permissionItems(org: OrgClaims | undefined) {
  return (org?.permissions ?? []).map((key) => ({ id: `perm_${key}`, name: key, key }));
}

/**
 * Registers the Kinde Account API subset the SDKs call with `forceApi` (`/account_api/v1/...`),
 * answering from the directory for the token's user and organization, plus the portal link (`portal.ts`).
 */
export function accountRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const route = (path: string, build: (c: Claimed, req: FastifyRequest) => unknown) =>
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
  // Paginated as Kinde's lists are: `page_size` (default 10) and `starting_after` (an entitlement id).
  app.get('/account_api/v1/entitlements', async (request, reply) => {
    const found = await bearerUser(ctx, request, reply);
    if (!found) return reply;
    const query = request.query as Record<string, unknown>;
    const size = query.page_size === undefined ? DEFAULT_PAGE_SIZE : Number(query.page_size);
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE)
      return badRequest(reply, `page_size must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
    const orgCode = found.orgCode ?? null;
    const { plans, entitlements } = billingOf(ctx.directory, found.user, orgCode);
    let start = 0;
    if (query.starting_after !== undefined) {
      const at = entitlements.findIndex((e) => e.id === query.starting_after);
      if (at === -1) return badRequest(reply, 'starting_after names no entitlement of this user');
      start = at + 1;
    }
    const items = entitlements.slice(start, start + size);
    const more = start + size < entitlements.length;
    return reply.header('cache-control', 'no-store').send({
      data: { org_code: orgCode, plans, entitlements: items },
      metadata: { has_more: more, next_page_starting_after: more ? (items.at(-1)?.id ?? null) : null },
    });
  });
  route('entitlement/:key', (c, req) => {
    const key = (req.params as { key: string }).key;
    const held = billingOf(ctx.directory, c.user, c.orgCode).entitlements.find((e) => e.feature_key === key);
    return { org_code: c.orgCode, entitlement: held ?? null };
  });
  portalRoutes(app, ctx);
}
