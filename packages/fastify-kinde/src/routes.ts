import { timingSafeEqual } from 'node:crypto';
import type {
  FastifyContextConfig,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
} from 'fastify';
import { randomPKCECodeVerifier } from 'openid-client';
import type { KindeConfig } from './config.js';
import { KindeAuthError } from './errors.js';
import type { AuthorizeExtras, LoginChecks, OidcClient } from './oidc.js';
import { errorPage } from './pages.js';
import type { SessionManager } from './session/manager.js';
import { type LoginAttempt, randomId } from './session/record.js';
import type { CookieSigner } from './session/signer.js';
import type { SessionStore } from './session/store.js';
import type { TokenVerifier } from './tokens.js';

/** What the auth routes need. */
export interface AuthRouteDeps {
  config: KindeConfig;
  oidc: OidcClient;
  sessions: SessionManager;
  store: SessionStore;
  signer: CookieSigner;
  verifier: TokenVerifier;
  /** The OpenAPI security schemes, added to the document by @fastify/swagger through the login route. */
  securitySchemes: () => Record<string, unknown>;
}

/** What @fastify/swagger hands a route's `swaggerTransform` (only the parts used here). */
interface SwaggerTransformArgs {
  schema: unknown;
  url: string;
  openapiObject?: { components?: { securitySchemes?: Record<string, unknown> } };
}

const ATTEMPT_TTL_MS = 10 * 60_000;
const ATTEMPT_PREFIX = 'login:';

const STATE_CAUSES = [
  'The login started on one host name and came back on another (for example localhost and 127.0.0.1): cookies are kept per host. Use the same host as KINDE_SITE_URL.',
  'The site runs over http while its cookies are marked Secure (KINDE_SITE_URL starts with https): the browser does not send them back.',
  'The browser blocked the login cookie (SameSite or third-party cookie settings), or the login took more than 10 minutes.',
  'A proxy or load balancer in front of the app rewrote the host or stripped cookies; or this callback URL was opened twice.',
];

const REDIRECT = { description: 'Redirect (see Location)' };
const BAD = {
  description: 'A bad parameter, or a login that cannot be completed (an HTML page, or JSON on request)',
};
const DOWN = { description: 'The identity provider cannot be reached' };

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

const passThrough = { type: 'string', maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]*$' } as const;

const loginQuery = {
  type: 'object',
  properties: {
    returnTo: {
      type: 'string',
      maxLength: 2048,
      description: 'A same-site relative path to land on after login',
    },
    org_code: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9_:-]+$' },
    login_hint: passThrough,
    lang: { type: 'string', maxLength: 35, pattern: '^[A-Za-z0-9-]+$' },
    audience: passThrough,
    org_name: passThrough,
    prompt: { type: 'string', enum: ['login', 'none', 'create', 'select_account'] },
  },
} as const;

interface LoginQuery {
  returnTo?: string;
  org_code?: string;
  login_hint?: string;
  lang?: string;
  audience?: string;
  org_name?: string;
  prompt?: string;
}

/**
 * Checks that `returnTo` is a same-site relative path: no scheme, no `//` or `/\` (which browsers
 * treat as another host), no control characters. Returns the path to redirect to.
 */
export function safeReturnTo(value: string | undefined, fallback: string, site: URL): string {
  if (value === undefined || value === '') return fallback;
  const bad =
    !value.startsWith('/') ||
    value.startsWith('//') ||
    value.includes('\\') ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    /[\u0000-\u001f\u007f]/.test(value);
  if (!bad) {
    const url = new URL(value, site);
    if (url.origin === site.origin) return `${url.pathname}${url.search}${url.hash}`;
  }
  throw new KindeAuthError(
    'ERR_BAD_REQUEST',
    'returnTo must be a relative path on this site, such as /items/1',
  );
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function renderError(error: FastifyError | KindeAuthError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode ?? 500;
  const known = error instanceof KindeAuthError || error.validation !== undefined;
  if (!known || status >= 500) request.log.error({ err: error }, 'fastify-kinde auth route failed');
  const message = known ? error.message : 'The login could not be completed.';
  const causes = error instanceof KindeAuthError && error.code === 'ERR_STATE_MISSING' ? STATE_CAUSES : [];
  reply.code(known ? status : 500).header('cache-control', 'no-store');
  if (request.headers.accept?.includes('application/json') && !request.headers.accept.includes('text/html')) {
    return reply.send({ detail: message, ...(error instanceof KindeAuthError ? { code: error.code } : {}) });
  }
  const title = status === 503 ? 'Sign-in is unavailable' : 'Sign-in failed';
  return reply.type('text/html; charset=utf-8').send(errorPage(title, message, causes));
}

/** Registers login, register, create_org, callback and logout. */
export function registerAuthRoutes(app: FastifyInstance, deps: AuthRouteDeps): void {
  const { config, oidc, sessions, store, signer, verifier } = deps;
  const attemptCookie = config.secureCookies ? '__Host-kinde_login' : 'kinde_login';
  const loginRoute = (summary: string, description: string) => ({
    errorHandler: renderError,
    schema: docs(summary, description, { querystring: loginQuery }),
  });

  async function startLogin(
    request: FastifyRequest<{ Querystring: LoginQuery }>,
    reply: FastifyReply,
    extras: AuthorizeExtras,
  ) {
    const q = request.query;
    const returnTo = safeReturnTo(q.returnTo, config.postLoginRedirectUrl, config.siteUrl);
    const checks: LoginChecks = {
      state: randomId(),
      nonce: randomId(),
      codeVerifier: randomPKCECodeVerifier(),
    };
    const url = await oidc.authorizationUrl(checks, {
      org_code: q.org_code,
      login_hint: q.login_hint,
      lang: q.lang,
      prompt: q.prompt,
      ...(q.audience ? { audience: q.audience } : {}),
      ...extras,
    });
    const attempt: LoginAttempt = { v: 1, nonce: checks.nonce, codeVerifier: checks.codeVerifier, returnTo };
    await store.set(ATTEMPT_PREFIX + checks.state, attempt, ATTEMPT_TTL_MS);
    reply.setCookie(attemptCookie, signer.sign(checks.state), {
      ...sessions.cookieOptions(),
      maxAge: ATTEMPT_TTL_MS / 1000,
    });
    return reply.header('cache-control', 'no-store').redirect(url.href, 302);
  }

  app.get<{ Querystring: LoginQuery }>(
    config.routes.login,
    {
      ...loginRoute(
        'Sign in with Kinde',
        'Starts the authorization-code flow with PKCE and redirects to Kinde.',
      ),
      // @fastify/swagger runs this while it builds the document: it adds the security schemes.
      config: {
        swaggerTransform: ({ schema, url, openapiObject }: SwaggerTransformArgs) => {
          if (openapiObject) {
            openapiObject.components ??= {};
            openapiObject.components.securitySchemes = {
              ...openapiObject.components.securitySchemes,
              ...deps.securitySchemes(),
            };
          }
          return { schema, url };
        },
      } as unknown as FastifyContextConfig, // @fastify/swagger types this field only where it is installed
    },
    (req, reply) => startLogin(req, reply, {}),
  );
  app.get<{ Querystring: LoginQuery }>(
    config.routes.register,
    loginRoute('Sign up with Kinde', 'Like login, but opens Kinde on the sign-up page (`prompt=create`).'),
    (req, reply) => startLogin(req, reply, { prompt: 'create' }),
  );
  app.get<{ Querystring: LoginQuery }>(
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
      logLevel: 'warn',
      schema: docs(
        'Kinde callback',
        'Where Kinde sends the browser back: checks `state`, exchanges the code, starts the session.',
      ),
    },
    async (request, reply) => {
      const params = new URLSearchParams(
        request.url.slice(request.url.indexOf('?') + 1 || request.url.length),
      );
      const state = params.get('state');
      const signed = request.cookies[attemptCookie];
      reply.clearCookie(attemptCookie, sessions.cookieOptions());
      if (signed === undefined) {
        throw new KindeAuthError(
          'ERR_STATE_MISSING',
          'This sign-in cannot be matched to a login started in this browser: its login cookie is missing.',
        );
      }
      const cookieState = signer.unsign(signed)?.value;
      if (!state || !cookieState || !sameText(state, cookieState)) {
        throw new KindeAuthError(
          'ERR_STATE_MISMATCH',
          "The state returned by the provider does not match this browser's login. Start the login again.",
        );
      }
      const entry = await store.get(ATTEMPT_PREFIX + state);
      const taken = entry !== undefined && (await store.delete(ATTEMPT_PREFIX + state));
      if (!taken) {
        throw new KindeAuthError(
          'ERR_LOGIN_EXPIRED',
          'This login has already been used or has expired. Start the login again.',
        );
      }
      const attempt = entry.value as LoginAttempt;
      const providerError = params.get('error');
      if (providerError !== null) {
        const description = params.get('error_description');
        throw new KindeAuthError(
          'ERR_PROVIDER_ERROR',
          `The identity provider reported: ${providerError}${description ? ` (${description})` : ''}`,
          {
            error: providerError,
          },
        );
      }
      const checks: LoginChecks = { state, nonce: attempt.nonce, codeVerifier: attempt.codeVerifier };
      let accessClaims: Awaited<ReturnType<TokenVerifier['verify']>>;
      let tokens: Awaited<ReturnType<OidcClient['exchangeCode']>>;
      try {
        tokens = await oidc.exchangeCode(params, checks);
        accessClaims = await verifier.verify(tokens.accessToken);
      } catch (error) {
        if (error instanceof KindeAuthError && error.code === 'ERR_TOKEN_INVALID') {
          throw new KindeAuthError(
            'ERR_CODE_EXCHANGE',
            `The provider's answer was rejected: ${error.message}`,
            {},
            { cause: error },
          );
        }
        throw error;
      }
      // A login always gets a new session id: whatever session this browser had ends here.
      const previous = request.kinde.sessionId;
      if (previous !== null) await sessions.destroy(previous);
      await sessions.create(reply, tokens, accessClaims);
      return reply.header('cache-control', 'no-store').redirect(attempt.returnTo, 302);
    },
  );

  const logoutDocs = docs('Sign out', 'Ends the session here and at Kinde.');
  app.get(config.routes.logout, { errorHandler: renderError, schema: logoutDocs }, async (request, reply) => {
    if (request.kinde.unavailable) {
      // The session cannot be deleted now: clearing only the cookie would leave it alive in the store.
      throw new KindeAuthError(
        'ERR_STORE_UNAVAILABLE',
        'Signing out is not possible right now: the session store is unavailable. Try again shortly.',
      );
    }
    const id = request.kinde.sessionId;
    if (id !== null) await sessions.destroy(id);
    reply.clearCookie(sessions.cookieName, sessions.cookieOptions());
    return reply.header('cache-control', 'no-store').redirect(oidc.logoutUrl(), 302);
  });
}
