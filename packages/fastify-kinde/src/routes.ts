import type { FastifyContextConfig, FastifyInstance, FastifySchema } from 'fastify';
import { kindeCallback } from './callback.js';
import type { KindeConfig } from './config.js';
import type { DebugLog } from './debug.js';
import { type LoginQuery, loginQuery, loginStarter } from './login.js';
import { createLoginAttempts } from './login-attempts.js';
import { logoutHandlers } from './logout.js';
import type { OidcClient } from './oidc.js';
import { renderError } from './pages.js';
import { type PortalQuery, portalHandler, portalQuery } from './portal.js';
import type { SessionManager } from './session/manager.js';
import type { AuditTrail } from './telemetry.js';
import type { TokenVerifier } from './tokens.js';

export { safeReturnTo } from './return-to.js';

/** What the auth routes need. The session store is not among them: login attempts live in cookies. */
export interface AuthRouteDeps {
  config: KindeConfig;
  oidc: OidcClient;
  sessions: SessionManager;
  verifier: TokenVerifier;
  /** The OpenAPI security schemes, added to the document by @fastify/swagger through the login route. */
  securitySchemes: () => Record<string, unknown>;
  /** Where audit events go. */
  audit?: AuditTrail;
  /** Debug mode's log; undefined when off. */
  debug?: DebugLog;
}

/** What @fastify/swagger hands a route's `swaggerTransform` (only the parts used here). */
interface SwaggerTransformArgs {
  schema: unknown;
  url: string;
  openapiObject?: { components?: { securitySchemes?: Record<string, unknown> } };
}

const REDIRECT = { description: 'Redirect (see Location)' };
const BAD = {
  description: 'A bad parameter, or a login that cannot be completed (an HTML page, or JSON on request)',
};
const DOWN = { description: 'The identity provider cannot be reached' };
const LOGOUT_QUERY = {
  type: 'object',
  properties: {
    post_logout_redirect_url: {
      type: 'string',
      maxLength: 2048,
      description:
        'Where to land after logout: a path or URL of this site, or a URL matching `KINDE_POST_LOGOUT_ALLOWED_URL_REGEX`; anything else lands on the default',
    },
  },
} as const;

/** OpenAPI documentation of the auth routes (FastifySchema does not declare `tags` and `summary`). */
function docs(summary: string, description: string, extra: Record<string, unknown> = {}): FastifySchema {
  return {
    tags: ['auth'],
    summary,
    description,
    response: { 302: REDIRECT, 400: BAD, 503: DOWN },
    ...extra,
  } as FastifySchema;
}

/** @fastify/swagger runs this while it builds the document: it adds the security schemes. */
function withSecuritySchemes(schemes: () => Record<string, unknown>): FastifyContextConfig {
  return {
    swaggerTransform: ({ schema, url, openapiObject }: SwaggerTransformArgs) => {
      if (openapiObject) {
        openapiObject.components ??= {};
        openapiObject.components.securitySchemes = {
          ...openapiObject.components.securitySchemes,
          ...schemes(),
        };
      }
      return { schema, url };
    },
  } as unknown as FastifyContextConfig; // @fastify/swagger types this field only where it is installed
}

/** Registers login, register, create_org, callback and logout (GET and POST). */
export function registerAuthRoutes(app: FastifyInstance, deps: AuthRouteDeps): void {
  const { config, oidc, sessions, verifier } = deps;
  const attempts = createLoginAttempts(config);
  const startLogin = loginStarter(config, oidc, attempts, deps.audit, deps.debug);
  const loginRoute = (summary: string, description: string) => ({
    errorHandler: renderError,
    schema: docs(summary, description, { querystring: loginQuery }),
  });
  type Login = { Querystring: LoginQuery };

  app.get<Login>(
    config.routes.login,
    {
      ...loginRoute(
        'Sign in with Kinde',
        'Starts the authorization-code flow with PKCE and redirects to Kinde.',
      ),
      config: withSecuritySchemes(deps.securitySchemes),
    },
    (req, reply) => startLogin(req, reply, {}),
  );
  app.get<Login>(
    config.routes.register,
    loginRoute('Sign up with Kinde', 'Like login, but opens Kinde on the sign-up page (`prompt=create`).'),
    (req, reply) => startLogin(req, reply, { prompt: 'create' }),
  );
  app.get<Login>(
    config.routes.createOrg,
    loginRoute(
      'Sign up and create an organization',
      'Sign-up that also creates an organization named `org_name`.',
    ),
    (req, reply) =>
      startLogin(req, reply, { prompt: 'create', is_create_org: 'true', org_name: req.query.org_name ?? '' }),
  );

  app.get(
    config.routes.callback,
    {
      errorHandler: renderError,
      // Its URL carries the authorization code: kept out of request logs.
      logLevel: 'warn',
      schema: docs(
        'Kinde callback',
        'Where Kinde sends the browser back: checks `state`, exchanges the code, starts the session.',
      ),
    },
    kindeCallback({ config, oidc, sessions, verifier, attempts, audit: deps.audit, debug: deps.debug }),
  );

  app.get<{ Querystring: PortalQuery }>(
    config.routes.portal,
    {
      errorHandler: renderError,
      schema: docs(
        "Kinde's self-serve portal",
        "Redirects the signed-in user to Kinde's self-serve portal (`subNav` section, linking back to `returnUrl`). Signed out: a browser goes to login first; other callers get 401.",
        {
          querystring: portalQuery,
          response: {
            204: { description: 'A prefetch: no portal link is made' },
            302: REDIRECT,
            400: BAD,
            401: { description: 'Not signed in (JSON callers)' },
            502: { description: 'The provider answered the portal link request with no usable URL' },
            503: DOWN,
          },
        },
      ),
    },
    portalHandler(config, deps.debug),
  );

  const logout = logoutHandlers(config, oidc, sessions, deps.audit, deps.debug);
  app.get(
    config.routes.logout,
    {
      errorHandler: renderError,
      schema: docs(
        'Sign out',
        'Ends the session here and at Kinde. From another site it only shows a page that asks to confirm.',
        {
          querystring: LOGOUT_QUERY,
          response: {
            200: { description: 'Asks to confirm (the request came from another site)' },
            302: REDIRECT,
            400: BAD,
            503: DOWN,
          },
        },
      ),
    },
    logout.viaGet,
  );
  // Forms post urlencoded bodies; the body is not read. A scope keeps the parser to this route.
  app.register(async (scope) => {
    const form = 'application/x-www-form-urlencoded';
    if (!scope.hasContentTypeParser(form)) {
      scope.addContentTypeParser(form, { parseAs: 'string', bodyLimit: 4096 }, (_req, _body, done) =>
        done(null, {}),
      );
    }
    scope.post(
      config.routes.logout,
      {
        errorHandler: renderError,
        onRequest: logout.checkOrigin,
        schema: docs('Sign out (from a form)', 'Ends the session here and at Kinde; only from this site.', {
          querystring: LOGOUT_QUERY,
          response: {
            303: { description: 'Signed out; on to Kinde (see Location)' },
            403: { description: 'The request did not come from this site: nothing changed' },
            503: DOWN,
          },
        }),
      },
      logout.viaPost,
    );
  });
}
