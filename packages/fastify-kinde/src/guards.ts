import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { FlagValue } from './claims.js';
import type { KindeContext } from './context.js';
import { debugOf } from './debug.js';
import { KindeAuthError } from './errors.js';
import { guardRefused } from './telemetry.js';

/** How a caller may authenticate: a browser session, a bearer token, or either (the default). */
export type AuthMode = 'session' | 'bearer' | 'either';

/** What a guard demands of the caller. An empty requirement means: authenticated. Parts combine with AND. */
export interface GuardRequirement {
  /** Which credentials count. Default `either`. */
  auth?: AuthMode;
  /** Every one of these permissions. */
  permissions?: readonly string[];
  /** At least one of these permissions. */
  anyPermission?: readonly string[];
  /** Every one of these role keys. */
  roles?: readonly string[];
  /** At least one of these role keys. */
  anyRole?: readonly string[];
  /** Feature flags and the value each must have (`true` for a boolean flag that is on). */
  flags?: Readonly<Record<string, FlagValue>>;
  /** `true`: the caller acts within some organization; a code: within that one. */
  org?: true | string;
  /**
   * Every one of these billing entitlements, by price name as js-utils' `has({ billingEntitlements })`
   * matches them; asked of Kinde's Account API (reused 30 s per session) once every other part passed.
   */
  billingEntitlements?: readonly string[];
  /**
   * `true`: a signed-out browser asking for a page (a `GET`/`HEAD` whose `Accept` names
   * `text/html`, not a script's fetch, no bearer token) goes to the login route and comes back to
   * this URL after login. API callers still get the 401. Default false.
   */
  redirect?: boolean;
}

/** Marks guard functions so the plugin (and OpenAPI) can tell what a route requires. */
export const KINDE_GUARD: unique symbol = Symbol.for('fastify-kinde.guard');

/** An `onRequest`/`preHandler` hook that lets a request through only when its caller meets the requirement. */
export type KindeGuard = ((
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
) => void) & {
  readonly [KINDE_GUARD]: GuardRequirement;
};

const NOT_REGISTERED =
  'fastify-kinde is not registered on this instance: register it before the routes it guards';

function missingPermission(kinde: KindeContext, requirement: GuardRequirement): string | undefined {
  const granted = kinde.getPermissions().permissions;
  const missing = requirement.permissions?.find((p) => !granted.includes(p));
  if (missing !== undefined) return `Missing permission: ${missing}`;
  const any = requirement.anyPermission;
  if (any?.length && !any.some((p) => granted.includes(p)))
    return `Missing permission: one of ${any.join(', ')}`;
  return undefined;
}

function missingRole(kinde: KindeContext, requirement: GuardRequirement): string | undefined {
  const keys = kinde.getRoles().map((r) => r.key);
  const missing = requirement.roles?.find((r) => !keys.includes(r));
  if (missing !== undefined) return `Missing role: ${missing}`;
  const any = requirement.anyRole;
  if (any?.length && !any.some((r) => keys.includes(r))) return `Missing role: one of ${any.join(', ')}`;
  return undefined;
}

function missingFlag(kinde: KindeContext, flags: Readonly<Record<string, FlagValue>>): string | undefined {
  const held = kinde.getClaimValue('feature_flags') as
    | Record<string, { v?: unknown } | undefined>
    | undefined;
  for (const [code, wanted] of Object.entries(flags)) {
    if (held?.[code]?.v !== wanted) return `Missing feature flag: ${code}`;
  }
  return undefined;
}

function missingOrg(kinde: KindeContext, org: true | string): string | undefined {
  const current = kinde.getOrganization().orgCode;
  if (org === true) return current === null ? 'Missing organization' : undefined;
  return current === org ? undefined : `Missing organization: ${org}`;
}

/** The reason a caller is refused, or undefined when it passes. */
function refusal(kinde: KindeContext, requirement: GuardRequirement): string | undefined {
  return (
    ((requirement.permissions || requirement.anyPermission) && missingPermission(kinde, requirement)) ||
    ((requirement.roles || requirement.anyRole) && missingRole(kinde, requirement)) ||
    (requirement.flags && missingFlag(kinde, requirement.flags)) ||
    (requirement.org !== undefined && missingOrg(kinde, requirement.org)) ||
    undefined
  );
}

const LIST_KEYS = ['permissions', 'anyPermission', 'roles', 'anyRole', 'billingEntitlements'] as const;
const KNOWN_KEYS = new Set<string>([...LIST_KEYS, 'auth', 'flags', 'org', 'redirect']);

function blank(value: unknown): boolean {
  return typeof value !== 'string' || value.trim() === '';
}

/**
 * Refuses a requirement that would admit more callers than it says: an empty list (`[]` of
 * permissions or roles is met by anyone signed in), a blank name, no flags, or a key this
 * version does not know (a typo such as `permission` would otherwise require nothing).
 */
function checkRequirement(requirement: GuardRequirement): void {
  if (typeof requirement !== 'object' || requirement === null || Array.isArray(requirement))
    throw new TypeError('fastify-kinde: a guard requirement must be an object');
  for (const key of Object.keys(requirement)) {
    if (!KNOWN_KEYS.has(key))
      throw new TypeError(
        `fastify-kinde: unknown guard requirement "${key}" (known: ${[...KNOWN_KEYS].join(', ')})`,
      );
  }
  for (const key of LIST_KEYS) {
    const list = requirement[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || list.length === 0)
      throw new TypeError(
        `fastify-kinde: "${key}" must list at least one name; an empty list would let any signed-in caller through`,
      );
    if (list.some(blank)) throw new TypeError(`fastify-kinde: "${key}" must not contain blank names`);
  }
  const flags = requirement.flags;
  if (flags !== undefined) {
    const entries = typeof flags === 'object' && flags !== null ? Object.entries(flags) : [];
    if (entries.length === 0)
      throw new TypeError(
        'fastify-kinde: "flags" must name at least one flag; none would let any signed-in caller through',
      );
    for (const [code, value] of entries) {
      if (blank(code)) throw new TypeError('fastify-kinde: a flag code must not be blank');
      if (!['boolean', 'string', 'number'].includes(typeof value))
        throw new TypeError(`fastify-kinde: flag "${code}" must be wanted as a boolean, string or number`);
    }
  }
  if (requirement.redirect !== undefined && typeof requirement.redirect !== 'boolean')
    throw new TypeError('fastify-kinde: "redirect" must be true or false');
  const org = requirement.org;
  if (org !== undefined && org !== true && blank(org))
    throw new TypeError('fastify-kinde: "org" must be true or a non-blank organization code');
}

/**
 * Builds a guard for any requirement; the `require*` helpers are shorthands for it.
 *
 * @example
 * ```ts
 * app.post('/orgs/acme/items', { onRequest: requireKinde({ roles: ['admin'], org: 'org_acme' }) }, handler);
 * ```
 */
export function requireKinde(requirement: GuardRequirement = {}): KindeGuard {
  checkRequirement(requirement);
  const mode = requirement.auth ?? 'either';
  if (mode !== 'session' && mode !== 'bearer' && mode !== 'either') {
    throw new TypeError(`"auth" must be "session", "bearer" or "either"; got "${String(mode)}"`);
  }
  const entitlements = requirement.billingEntitlements;
  const redirect = requirement.redirect === true && mode !== 'bearer';
  const check = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const kinde = request.kinde;
    if (kinde === null || kinde === undefined) throw new Error(NOT_REGISTERED);
    if (kinde.unavailable) {
      guardRefused(503, kinde.problem === null ? 'ERR_STORE_UNAVAILABLE' : 'ERR_PROVIDER_UNAVAILABLE');
      explainRefusal(request, 503, kinde.problem ?? 'the session store is unavailable');
      reply.code(503).send({ detail: kinde.problem ?? 'Session store unavailable' });
      return;
    }
    if (!kinde.isAuthenticated() || (mode !== 'either' && kinde.via !== mode)) {
      if (redirect && kinde.problem === null && !kinde.isAuthenticated() && wantsPage(request)) {
        guardRefused(302, 'ERR_NOT_AUTHENTICATED');
        explainRefusal(request, 302, 'a signed-out browser asked for a page: sent to login');
        reply
          .header('cache-control', 'no-store')
          .header('vary', 'Accept')
          .redirect(loginLocation(request), 302);
        return;
      }
      if (mode !== 'session') reply.header('www-authenticate', challenge(kinde, mode));
      guardRefused(401, kinde.problem === null ? 'ERR_NOT_AUTHENTICATED' : 'ERR_TOKEN_INVALID');
      explainRefusal(request, 401, unauthenticatedBecause(kinde, mode));
      reply.code(401).send({ detail: 'Not authenticated' });
      return;
    }
    const reason = refusal(kinde, requirement);
    if (reason !== undefined) {
      explainRefusal(request, 403, reason, requirement);
      forbid(kinde, reply, reason);
      return;
    }
    if (entitlements === undefined) {
      done();
      return;
    }
    missingEntitlement(kinde, entitlements).then(
      (missing) => {
        if (missing === undefined) done();
        else {
          explainRefusal(request, 403, missing, requirement);
          forbid(kinde, reply, missing);
        }
      },
      (error: unknown) => {
        // The Account API could not answer (or refused the token): never a pass.
        const status = error instanceof KindeAuthError ? error.statusCode : 503;
        explainRefusal(request, status, (error as Error).message, requirement);
        guardRefused(status, status === 401 ? 'ERR_TOKEN_INVALID' : 'ERR_PROVIDER_UNAVAILABLE');
        reply.code(status).send({
          detail:
            status === 503 ? 'Billing entitlements cannot be checked right now' : (error as Error).message,
        });
      },
    );
  };
  return Object.assign(check, { [KINDE_GUARD]: requirement });
}

/** Why a caller counts as not authenticated for a guard of this mode (debug mode). */
function unauthenticatedBecause(kinde: KindeContext, mode: AuthMode): string {
  if (kinde.problem !== null) return `the bearer token was refused: ${kinde.problem}`;
  if (kinde.isAuthenticated())
    return `the route takes ${mode} credentials and the caller came by ${kinde.via}`;
  return 'the caller is anonymous (see the session line of this request)';
}

/** Debug mode: one line for a refusal, off the path of every request that passes. */
function explainRefusal(
  request: FastifyRequest,
  status: number,
  why: string,
  requirement?: GuardRequirement,
) {
  const debug = debugOf(request);
  if (debug === undefined) return;
  debug.explain(request, 'guard', `guard refused with ${status}: ${why}`, {
    status,
    route: request.routeOptions.url,
    userId: request.kinde.getUser()?.id ?? null,
    ...(requirement !== undefined && { required: { ...requirement } }),
  });
}

function forbid(kinde: KindeContext, reply: FastifyReply, reason: string): void {
  if (kinde.via === 'bearer') {
    reply.header(
      'www-authenticate',
      `Bearer error="insufficient_scope", error_description="${quoted(reason)}"`,
    );
  }
  guardRefused(403, 'ERR_MISSING_PERMISSION');
  reply.code(403).send({ detail: reason });
}

/** The first billing entitlement (by price name) the caller lacks; machines hold none. */
async function missingEntitlement(
  kinde: KindeContext,
  wanted: readonly string[],
): Promise<string | undefined> {
  const held = kinde.kind === 'user' ? (await kinde.getEntitlements()).entitlements : [];
  const missing = wanted.find((name) => !held.some((e) => e.priceName === name));
  return missing === undefined ? undefined : `Missing billing entitlement: ${missing}`;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Whether a signed-out caller is a person's browser opening a page, which a login can bring back:
 * a `GET`/`HEAD` without credentials of its own, whose `Accept` names `text/html`, that a script did
 * not send (`Sec-Fetch-Mode` other than `navigate`, `X-Requested-With`). Anything else is an API
 * call and gets the 401 it can act on.
 */
export function wantsPage(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  if (request.headers.authorization !== undefined) return false;
  if (!/\btext\/html\b/i.test(header(request, 'accept') ?? '')) return false;
  const mode = header(request, 'sec-fetch-mode');
  if (mode !== undefined && mode !== 'navigate') return false;
  return header(request, 'x-requested-with') === undefined;
}

/** The longest page URL carried to login as `returnTo` (the login route's own limit). */
const MAX_RETURN_TO = 2048;

/** The login route with this page as `returnTo` (its path alone when the query makes it too long). */
function loginLocation(request: FastifyRequest): string {
  const login = (request.server as { kinde?: { routes?: { login?: string } } }).kinde?.routes?.login;
  const path = login ?? '/api/auth/login';
  const url = request.url;
  const page = url.length <= MAX_RETURN_TO ? url : url.split('?', 1)[0]!;
  if (page.length > MAX_RETURN_TO) return path;
  return `${path}?${new URLSearchParams({ returnTo: page })}`;
}

/** Text safe inside an RFC 7235 quoted string. */
function quoted(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  return text.replace(/["\\\u0000-\u001f\u007f]/g, '');
}

/** The RFC 6750 challenge for a refused bearer caller. */
function challenge(kinde: KindeContext, mode: AuthMode): string {
  if (kinde.problem !== null)
    return `Bearer error="invalid_token", error_description="${quoted(kinde.problem)}"`;
  if (mode === 'bearer' && kinde.via === 'session') {
    return 'Bearer error="invalid_token", error_description="this route takes a bearer token, not a session"';
  }
  return 'Bearer';
}

/**
 * Lets only authenticated callers through; others get `401 {"detail":"Not authenticated"}`.
 *
 * @example
 * ```ts
 * app.get('/', { onRequest: requireAuth() }, () => ({ Hello: 'World' }));
 * app.get('/api/report', { onRequest: requireAuth({ auth: 'bearer' }) }, handler); // machines only
 * app.get('/dashboard', { onRequest: requireAuth({ redirect: true }) }, page); // browsers go to login
 * ```
 */
export function requireAuth(options: { auth?: AuthMode; redirect?: boolean } = {}): KindeGuard {
  return requireKinde({
    ...(options.auth ? { auth: options.auth } : {}),
    ...(options.redirect === undefined ? {} : { redirect: options.redirect }),
  });
}

/** Turns `'a'` or `['a','b']` into a list. */
function list(value: string | readonly string[]): string[] {
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) throw new TypeError('fastify-kinde: give a name or a list of names');
  return [...value];
}

/**
 * Lets through callers granted every listed permission (`{ any: true }`: at least one); others get
 * `403 {"detail":"Missing permission: read:items"}`.
 *
 * @example
 * ```ts
 * app.delete('/items/:id', { onRequest: requirePermission('delete:items') }, handler);
 * ```
 */
export function requirePermission(
  permissions: string | readonly string[],
  options: { any?: boolean } = {},
): KindeGuard {
  return requireKinde(
    options.any ? { anyPermission: list(permissions) } : { permissions: list(permissions) },
  );
}

/**
 * Lets through callers holding every listed role key (`{ any: true }`: at least one); others get
 * `403 {"detail":"Missing role: admin"}`.
 *
 * @example
 * ```ts
 * app.get('/admin', { onRequest: requireRole('admin') }, handler);
 * ```
 */
export function requireRole(roles: string | readonly string[], options: { any?: boolean } = {}): KindeGuard {
  return requireKinde(options.any ? { anyRole: list(roles) } : { roles: list(roles) });
}

/**
 * Lets through callers whose feature flag `code` is on (a boolean flag) or equals `value`; others get
 * `403 {"detail":"Missing feature flag: dark_mode"}`.
 *
 * @example
 * ```ts
 * app.get('/beta', { onRequest: requireFlag('dark_mode') }, handler);
 * app.get('/pink', { onRequest: requireFlag('theme', 'pink') }, handler);
 * ```
 */
export function requireFlag(code: string, value: FlagValue = true): KindeGuard {
  return requireKinde({ flags: { [code]: value } });
}

/**
 * Lets through callers acting within an organization (or the one named); others get
 * `403 {"detail":"Missing organization: org_123"}`.
 *
 * @example
 * ```ts
 * app.get('/org', { onRequest: requireOrg() }, handler);
 * app.get('/acme', { onRequest: requireOrg('org_acme') }, handler);
 * ```
 */
export function requireOrg(orgCode?: string): KindeGuard {
  return requireKinde({ org: orgCode ?? true });
}

/**
 * Lets through signed-in users holding every listed billing entitlement (by price name, as js-utils'
 * `has({ billingEntitlements })`), read from Kinde's Account API; others get
 * `403 {"detail":"Missing billing entitlement: Pro gym"}`, and `503` when the API cannot answer.
 *
 * @example
 * ```ts
 * app.get('/reports/export', { onRequest: requireEntitlement('Pro reports') }, handler);
 * ```
 */
export function requireEntitlement(names: string | readonly string[]): KindeGuard {
  return requireKinde({ billingEntitlements: list(names) });
}

/** The requirement a hook carries, when it is a fastify-kinde guard. */
export function requirementOf(hook: unknown): GuardRequirement | undefined {
  return typeof hook === 'function' ? (hook as Partial<KindeGuard>)[KINDE_GUARD] : undefined;
}
