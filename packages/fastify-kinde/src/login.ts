import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomPKCECodeVerifier } from 'openid-client';
import type { KindeConfig } from './config.js';
import { type DebugLog, pathOnly } from './debug.js';
import type { LoginAttempts } from './login-attempts.js';
import {
  checkLoginParamNames,
  decodeReauthState,
  forwardedParams,
  type LoginQuery,
  loginAudiences,
} from './login-params.js';
import type { AuthorizeExtras, LoginChecks, OidcClient } from './oidc.js';
import { returnToTarget } from './return-to.js';
import { randomId } from './session/record.js';
import { type AuditTrail, type LoginMethod, loginChannel, reasonOf, traced } from './telemetry.js';

export { type LoginQuery, loginQuery } from './login-params.js';

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
    checkLoginParamNames(request.url);
    // js-utils' reauth_state: the expired login's parameters, under the ones given here.
    const q: LoginQuery = request.query.reauth_state
      ? { ...decodeReauthState(request.query.reauth_state).params, ...request.query }
      : request.query;
    const returnTo = returnToTarget(
      q.returnTo ?? q.post_login_redirect_url,
      config.postLoginRedirectUrl,
      config.siteUrl,
      config.postLoginAllowedUrls,
    );
    const checks: LoginChecks = {
      state: randomId(),
      nonce: randomId(),
      codeVerifier: randomPKCECodeVerifier(),
    };
    const audience = loginAudiences(config.audience, q.audience);
    const url = await oidc.authorizationUrl(checks, { ...forwardedParams(q), ...extras }, audience);
    attempts.begin(request, reply, {
      ...checks,
      returnTo,
      method,
      ...((extras.prompt ?? q.prompt) === 'none' ? { silent: true } : {}),
    });
    debug?.explain(request, 'login', 'login started: attempt cookie set, redirecting to the provider', {
      method,
      returnTo: pathOnly(returnTo),
      ...((q.returnTo ?? q.post_login_redirect_url) !== undefined &&
        returnTo === config.postLoginRedirectUrl && { returnToRefused: true }),
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
