import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KindeConfig } from './config.js';
import { type DebugLog, pathOnly } from './debug.js';
import { KindeAuthError } from './errors.js';
import type { LoginAttempts } from './login-attempts.js';
import { decodeReauthState } from './login-params.js';
import type { LoginChecks, OidcClient, ProviderTokens } from './oidc.js';
import { returnToTarget } from './return-to.js';
import type { SessionManager } from './session/manager.js';
import type { Claims } from './session/record.js';
import { type AuditTrail, type LoginMethod, loginChannel, reasonOf, traced } from './telemetry.js';
import type { TokenVerifier } from './tokens.js';

/** What the callback needs. */
export interface CallbackDeps {
  config: KindeConfig;
  oidc: OidcClient;
  sessions: SessionManager;
  verifier: TokenVerifier;
  attempts: LoginAttempts;
  audit?: AuditTrail;
  debug?: DebugLog;
}

/** The answers of a `prompt=none` login that mean "not signed in there" rather than a failure (OIDC Core 3.1.2.6). */
const SILENT_LOGIN_ANSWERS = new Set([
  'login_required',
  'consent_required',
  'interaction_required',
  'account_selection_required',
]);

/** The raw query string: openid-client checks the parameters itself, exactly as they arrived. */
function callbackParams(url: string): URLSearchParams {
  return new URLSearchParams(url.slice(url.indexOf('?') + 1 || url.length));
}

/** Exchanges the code and verifies the access token; a refused answer is the provider's 400, not ours. */
async function exchange(
  deps: CallbackDeps,
  params: URLSearchParams,
  checks: LoginChecks,
): Promise<{ tokens: ProviderTokens; accessClaims: Claims }> {
  try {
    const tokens = await deps.oidc.exchangeCode(params, checks);
    return { tokens, accessClaims: await deps.verifier.verify(tokens.accessToken) };
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
}

/**
 * Builds the callback handler: takes this browser's attempt for the returned `state` (once), shows
 * a provider error clearly, exchanges the code with the attempt's PKCE verifier and nonce, starts a
 * session under a new id, and redirects to the attempt's checked `returnTo`.
 *
 * @example
 * ```ts
 * app.get(config.routes.callback, { errorHandler: renderError }, kindeCallback(deps));
 * ```
 */
export function kindeCallback(deps: CallbackDeps) {
  return function handleCallback(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    return traced(loginChannel, { step: 'callback' }, async () => {
      try {
        return await complete(request, reply);
      } catch (error) {
        const providerError = error instanceof KindeAuthError ? error.details.error : undefined;
        deps.audit?.emit(
          {
            type: 'login.refused',
            reason: reasonOf(error),
            ...(providerError === undefined ? {} : { providerError: providerError.slice(0, 64) }),
          },
          request,
        );
        deps.debug?.explain(request, 'callback', `the callback was refused: ${(error as Error).message}`, {
          reason: reasonOf(error),
          ...(providerError === undefined ? {} : { providerError: providerError.slice(0, 64) }),
        });
        throw error;
      }
    });
  };

  /** Where a login lands: its checked target, checked again here, where it becomes `Location`. */
  function landing(returnTo: string | undefined): string {
    const { postLoginRedirectUrl, siteUrl, postLoginAllowedUrls } = deps.config;
    return returnToTarget(returnTo, postLoginRedirectUrl, siteUrl, postLoginAllowedUrls);
  }

  /**
   * Kinde's `error=login_link_expired&reauth_state=…`: the login restarts on the login route with
   * the expired login's parameters (checked as any login's) and, when this browser still holds the
   * attempt, its `returnTo`.
   */
  function restart(request: FastifyRequest, reply: FastifyReply, params: URLSearchParams): FastifyReply {
    let returnTo: string | undefined;
    try {
      returnTo = deps.attempts.take(request, reply, params.get('state')).returnTo;
    } catch {
      // The attempt is gone (it expires with the link): the restarted login lands on the default.
    }
    const reauth = params.get('reauth_state');
    const { params: restartWith, method } =
      reauth === null ? { params: {}, method: 'login' as const } : decodeReauthState(reauth);
    const routes = deps.config.routes;
    const route =
      method === 'create_org' ? routes.createOrg : method === 'register' ? routes.register : routes.login;
    const query = new URLSearchParams(restartWith);
    query.delete('post_login_redirect_url');
    // Anyone can link here: a restart is always interactive, never a silent login the user did not start.
    if (query.get('prompt') === 'none') query.delete('prompt');
    query.set('returnTo', landing(returnTo ?? restartWith.post_login_redirect_url));
    return reply.header('cache-control', 'no-store').redirect(`${route}?${query}`, 302);
  }

  async function complete(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const params = callbackParams(request.url);
    const state = params.get('state');
    const providerError = params.get('error');
    if (providerError === 'login_link_expired') return restart(request, reply, params);
    const attempt = deps.attempts.take(request, reply, state);
    if (providerError !== null && attempt.silent && SILENT_LOGIN_ANSWERS.has(providerError)) {
      // A silent login (`prompt=none`) found no session at the provider: back where it started, signed out.
      deps.audit?.emit({ type: 'login.refused', reason: 'ERR_PROVIDER_ERROR', providerError }, request);
      return reply.header('cache-control', 'no-store').redirect(landing(attempt.returnTo), 302);
    }
    if (providerError !== null) {
      const description = params.get('error_description');
      throw new KindeAuthError(
        'ERR_PROVIDER_ERROR',
        `The identity provider reported: ${providerError}${description ? ` (${description})` : ''}`,
        { error: providerError },
      );
    }
    const checks: LoginChecks = {
      state: attempt.state,
      nonce: attempt.nonce,
      codeVerifier: attempt.codeVerifier,
    };
    const { tokens, accessClaims } = await exchange(deps, params, checks);
    // A login always gets a new session id: whatever session this browser had ends here.
    const previous = request.kinde.sessionId;
    if (previous !== null) await deps.sessions.destroy(previous);
    await deps.sessions.create(reply, tokens, accessClaims);
    deps.audit?.emit(
      {
        type: 'login.completed',
        method: (attempt.method as LoginMethod | undefined) ?? null,
        userId: String(accessClaims.sub),
        orgCode: typeof accessClaims.org_code === 'string' ? accessClaims.org_code : null,
      },
      request,
    );
    // Checked when the login began and sealed since; checked again here, where it becomes `Location`.
    const location = landing(attempt.returnTo);
    deps.debug?.explain(
      request,
      'callback',
      'callback accepted: state matched the attempt of this browser, code exchanged with PKCE, tokens verified; new session started',
      {
        userId: String(accessClaims.sub),
        orgCode: typeof accessClaims.org_code === 'string' ? accessClaims.org_code : null,
        method: attempt.method ?? null,
        returnTo: pathOnly(location),
        previousSessionEnded: previous !== null,
        refreshToken: tokens.refreshToken !== undefined,
      },
    );
    return reply.header('cache-control', 'no-store').redirect(location, 302);
  }
}
