import type { RouteOptions } from 'fastify';
import type { KindeConfig } from './config.js';
import { type GuardRequirement, requirementOf } from './guards.js';

/** Names of the security schemes fastify-kinde adds to the OpenAPI document. */
export const SECURITY_SCHEMES = {
  session: 'kindeSession',
  bearer: 'kindeBearer',
  oauth2: 'kindeOAuth2',
} as const;

type SecurityRequirement = Record<string, string[]>;
type Schema = Record<string, unknown>;

const BASE_SCOPES: Record<string, string> = {
  openid: 'Sign in (OpenID Connect)',
  profile: 'Your name and picture',
  email: 'Your email address',
  offline: 'A refresh token',
};

const DETAIL = { type: 'object', properties: { detail: { type: 'string' } }, required: ['detail'] };

/** Every guard requirement a route carries, from its hooks and its `config.kinde` option. */
export function routeRequirements(route: RouteOptions): GuardRequirement[] {
  const hooks = [route.onRequest, route.preParsing, route.preValidation, route.preHandler].flatMap((h) =>
    h === undefined ? [] : Array.isArray(h) ? h : [h],
  );
  return hooks.map(requirementOf).filter((r): r is GuardRequirement => r !== undefined);
}

function permissionsOf(requirements: GuardRequirement[]): string[] {
  return [...new Set(requirements.flatMap((r) => [...(r.permissions ?? []), ...(r.anyPermission ?? [])]))];
}

/** The `security` of a guarded route: any one of the allowed schemes, with its permissions as OAuth2 scopes. */
function securityFor(requirements: GuardRequirement[]): SecurityRequirement[] {
  const modes = new Set(requirements.map((r) => r.auth ?? 'either'));
  const session = !modes.has('bearer');
  const bearer = !modes.has('session');
  const security: SecurityRequirement[] = [];
  if (session) security.push({ [SECURITY_SCHEMES.session]: [] });
  if (bearer) {
    security.push(
      { [SECURITY_SCHEMES.bearer]: [] },
      { [SECURITY_SCHEMES.oauth2]: permissionsOf(requirements) },
    );
  }
  return security;
}

/** The OpenAPI description of how to authenticate: cookie, bearer JWT, and OAuth2 code flow with PKCE. */
export function securitySchemes(
  config: KindeConfig,
  cookieName: string,
  permissions: Iterable<string>,
): Schema {
  const scopes: Record<string, string> = { ...BASE_SCOPES };
  for (const permission of permissions) scopes[permission] = `Kinde permission ${permission}`;
  return {
    [SECURITY_SCHEMES.session]: {
      type: 'apiKey',
      in: 'cookie',
      name: cookieName,
      description: `The session cookie set after signing in at ${config.routes.login}.`,
    },
    [SECURITY_SCHEMES.bearer]: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: 'A Kinde access token (for APIs and machine-to-machine callers).',
    },
    [SECURITY_SCHEMES.oauth2]: {
      type: 'oauth2',
      description:
        'Sign in with Kinde (authorization code with PKCE) and call the API with the access token.',
      flows: {
        authorizationCode: {
          authorizationUrl: `${config.issuerUrl}/oauth2/auth`,
          tokenUrl: `${config.issuerUrl}/oauth2/token`,
          refreshUrl: `${config.issuerUrl}/oauth2/token`,
          scopes,
        },
      },
    },
  };
}

/**
 * Documents a guarded route: its `security` (unless the route sets its own) and its 401/403
 * answers. Returns the permissions it requires, for the OAuth2 scope list.
 *
 * The answers join the route's `response` schemas at once only when it declares some: Fastify then
 * serializes the guard's answers with them (so a `4xx` schema of the route's cannot reshape
 * `{"detail": …}`). A route without any gets them through `later`, to be called once the app is ready:
 * Fastify compiles a route's response schemas before that (at `preReady`), so the route keeps none, and
 * its every reply skips Fastify's schema lookup (which builds and looks up a `"2xx"` string per
 * request), while @fastify/swagger, which reads the route's options when the document is asked for,
 * still shows them. The guard's answers are the same JSON either way.
 */
export function documentRoute(route: RouteOptions, later: (document: () => void) => void): string[] {
  const requirements = routeRequirements(route);
  if (requirements.length === 0) return [];
  const schema: Schema = { ...(route.schema as Schema | undefined) };
  schema.security ??= securityFor(requirements);
  const declared = schema.response as Schema | undefined;
  const responses: Schema = { ...declared };
  responses[401] ??= { description: 'Not authenticated', ...DETAIL };
  const demandsMore = requirements.some((r) => Object.keys(r).some((key) => key !== 'auth'));
  if (demandsMore)
    responses[403] ??= {
      description: 'Missing permission, role, feature flag, organization or billing entitlement',
      ...DETAIL,
    };
  // Billing entitlements are asked of Kinde's Account API: it can be down.
  if (requirements.some((r) => r.billingEntitlements !== undefined))
    responses[503] ??= { description: 'Billing entitlements cannot be checked right now', ...DETAIL };
  if (declared !== undefined) schema.response = responses;
  else
    later(() => {
      route.schema = { ...(route.schema as Schema | undefined), response: responses };
    });
  route.schema = schema;
  return permissionsOf(requirements);
}
