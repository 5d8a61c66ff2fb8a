import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomPKCECodeVerifier } from 'openid-client';
import type { KindeConfig } from './config.js';
import { type DebugLog, pathOnly } from './debug.js';
import type { LoginAttempts } from './login-attempts.js';
import type { AuthorizeExtras, LoginChecks, OidcClient } from './oidc.js';
import { safeReturnTo } from './return-to.js';
import { randomId } from './session/record.js';
import { type AuditTrail, type LoginMethod, loginChannel, reasonOf, traced } from './telemetry.js';

const passThrough = { type: 'string', maxLength: 256, pattern: '^[^\\u0000-\\u001f\\u007f]*$' } as const;

/** The query string of login, register and create_org. */
export const loginQuery = {
  type: 'object',
  properties: {
    returnTo: {
      type: 'string',
      maxLength: 2048,
      description:
        'A path on this site to land on after login; anything that would leave the site lands on the default instead',
    },
    org_code: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9_:-]+$' },
    login_hint: passThrough,
    lang: { type: 'string', maxLength: 35, pattern: '^[A-Za-z0-9-]+$' },
    audience: passThrough,
    org_name: passThrough,
    prompt: { type: 'string', enum: ['login', 'none', 'create', 'select_account'] },
  },
} as const;

/** The validated query of {@link loginQuery}. */
export interface LoginQuery {
  returnTo?: string;
  org_code?: string;
  login_hint?: string;
  lang?: string;
  audience?: string;
  org_name?: string;
  prompt?: string;
}

/** A login route handler: `extras` are what this route adds to the authorization request. */
export type StartLogin = (
  request: FastifyRequest<{ Querystring: LoginQuery }>,
  reply: FastifyReply,
  extras: AuthorizeExtras,
) => Promise<FastifyReply>;

/**
 * Builds the handler that starts a login: fresh `state`, `nonce` and PKCE verifier, sealed in an
 * attempt cookie of this browser, then a redirect to the provider.
 *
 * @example
 * ```ts
 * const startLogin = loginStarter(config, oidc, attempts);
 * app.get('/login', (req, reply) => startLogin(req, reply, {}));
 * ```
 */
export function loginStarter(
  config: KindeConfig,
  oidc: OidcClient,
  attempts: LoginAttempts,
  audit?: AuditTrail,
  debug?: DebugLog,
): StartLogin {
  return function startLogin(request, reply, extras) {
    const method = methodOf(extras);
    return traced(loginChannel, { step: 'start', method }, async () => {
      let result: FastifyReply;
      try {
        result = await begin(request, reply, extras, method);
      } catch (error) {
        audit?.emit({ type: 'login.refused', reason: reasonOf(error) }, request);
        debug?.explain(request, 'login', `the login could not start: ${(error as Error).message}`, {
          method,
          reason: reasonOf(error),
        });
        throw error;
      }
      audit?.emit({ type: 'login.started', method, orgCode: request.query.org_code ?? null }, request);
      return result;
    });
  };

  async function begin(
    request: FastifyRequest<{ Querystring: LoginQuery }>,
    reply: FastifyReply,
    extras: AuthorizeExtras,
    method: LoginMethod,
  ): Promise<FastifyReply> {
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
    attempts.begin(request, reply, { ...checks, returnTo, method });
    debug?.explain(request, 'login', 'login started: attempt cookie set, redirecting to the provider', {
      method,
      returnTo: pathOnly(returnTo),
      ...(q.returnTo !== undefined && returnTo === config.postLoginRedirectUrl && { returnToRefused: true }),
      orgCode: q.org_code ?? null,
      prompt: extras.prompt ?? q.prompt ?? null,
    });
    return reply.header('cache-control', 'no-store').redirect(url.href, 302);
  }
}

/** The route a login began on, from what that route adds (never from the caller's query). */
function methodOf(extras: AuthorizeExtras): LoginMethod {
  if (extras.is_create_org === 'true') return 'create_org';
  return extras.prompt === 'create' ? 'register' : 'login';
}
