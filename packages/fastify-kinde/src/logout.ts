import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KindeConfig } from './config.js';
import { clearCookie, readCookie } from './cookies.js';
import type { DebugLog } from './debug.js';
import { KindeAuthError } from './errors.js';
import type { OidcClient } from './oidc.js';
import { confirmSignOutPage } from './pages.js';
import { returnToTarget } from './return-to.js';
import { type RevocationOutcome, revokeSessionTokens } from './revocation.js';
import type { SessionManager } from './session/manager.js';
import type { SessionRecord } from './session/record.js';
import type { AuditTrail } from './telemetry.js';

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * Whether a GET came from this site, by what the browser says. `Sec-Fetch-Site` decides when sent:
 * `same-origin`, or `none` (typed, bookmarked), passes; anything else does not. Without it (older
 * browsers, scripts), an `Origin` or `Referer` naming another origin fails, and silence passes: such
 * a caller cannot be told apart from a person, and `POST` is the form that is always checked.
 */
export function sameOriginNavigation(request: FastifyRequest, site: URL): boolean {
  const fetchSite = header(request, 'sec-fetch-site');
  if (fetchSite !== undefined) return fetchSite === 'same-origin' || fetchSite === 'none';
  const origin = header(request, 'origin');
  if (origin !== undefined && origin !== site.origin) return false;
  const referer = header(request, 'referer');
  return referer === undefined || originOf(referer) === site.origin;
}

/**
 * Whether a POST came from this site: its `Origin` must be the site's origin; without `Origin`,
 * `Sec-Fetch-Site: same-origin` must say so. Anything else (`null`, another origin, nothing) fails.
 */
export function sameOriginPost(request: FastifyRequest, site: URL): boolean {
  const origin = header(request, 'origin');
  if (origin !== undefined) return origin === site.origin;
  return header(request, 'sec-fetch-site') === 'same-origin';
}

/**
 * Builds the logout handlers. Ending a session deletes it from the store, then revokes its refresh
 * and access tokens at the provider (best effort, at most 2 s: see `revocation.ts`). `POST` ends the session when the request comes from this site, and
 * answers 403 otherwise. `GET` (what Kinde's SDKs link to) ends it for a same-origin or typed
 * navigation; a navigation from another site gets a page asking to confirm, whose button posts.
 *
 * @example
 * ```ts
 * const logout = logoutHandlers(config, oidc, sessions);
 * app.get('/logout', logout.viaGet);
 * app.post('/logout', { onRequest: logout.checkOrigin }, logout.viaPost);
 * ```
 */
export function logoutHandlers(
  config: KindeConfig,
  oidc: OidcClient,
  sessions: SessionManager,
  audit?: AuditTrail,
  debug?: DebugLog,
) {
  async function endSession(request: FastifyRequest, reply: FastifyReply, status: 302 | 303) {
    let id = request.kinde.sessionId;
    if (request.kinde.unavailable) {
      // The credentials could not be checked: the provider is down while a refresh was due, or the
      // store failed. The cookie still names the session; ending it needs only the store.
      const cookie = readCookie(request.headers.cookie, sessions.cookieName);
      id = cookie === undefined ? null : (sessions.idOf(cookie) ?? null);
    }
    // Ended here first, so that a provider that is down or slow cannot keep the session alive.
    let record: SessionRecord | undefined;
    try {
      record = id !== null ? await sessions.take(id) : undefined;
    } catch {
      // Clearing only the cookie would leave the session alive in the store.
      throw new KindeAuthError(
        'ERR_STORE_UNAVAILABLE',
        'Signing out is not possible right now: the session store is unavailable. Try again shortly.',
      );
    }
    const revocation: RevocationOutcome =
      record !== undefined ? await revokeSessionTokens(oidc, record) : { outcome: 'none' };
    if (revocation.outcome === 'failed' || revocation.outcome === 'timeout') {
      request.log.warn(
        { revocation },
        'fastify-kinde: signed out here, but the provider did not confirm the revocation of the session tokens',
      );
    }
    audit?.emit(
      {
        type: 'logout',
        userId: request.kinde.getUser()?.id ?? null,
        revocation: revocation.outcome,
      },
      request,
    );
    debug?.explain(request, 'logout', 'signed out: session deleted, cookie cleared, on to the provider', {
      userId: request.kinde.getUser()?.id ?? null,
      sessionEnded: record !== undefined,
      ...revocation,
    });
    clearCookie(reply, sessions.cookieName, sessions.cookieOptions());
    return reply.header('cache-control', 'no-store').redirect(oidc.logoutUrl(target(request)), status);
  }

  /**
   * Where the provider sends the browser afterwards: `post_logout_redirect_url` (Kinde's name) when
   * it is a path or URL of this site, or matches `KINDE_POST_LOGOUT_ALLOWED_URL_REGEX`; otherwise,
   * like a bad `returnTo`, the configured `postLogoutRedirectUrl`.
   */
  function target(request: FastifyRequest): string {
    const asked = (request.query as { post_logout_redirect_url?: unknown } | undefined)
      ?.post_logout_redirect_url;
    if (typeof asked !== 'string') return config.postLogoutRedirectUrl;
    const none = '\u0000';
    const chosen = returnToTarget(asked, none, config.siteUrl, config.postLogoutAllowedUrls);
    if (chosen === none) return config.postLogoutRedirectUrl;
    return new URL(chosen, config.siteUrl).href;
  }

  /** The confirm page posts back to logout, keeping a `post_logout_redirect_url` that passes the checks. */
  function confirmAction(request: FastifyRequest): string {
    const redirect = target(request);
    if (redirect === config.postLogoutRedirectUrl) return config.routes.logout;
    return `${config.routes.logout}?${new URLSearchParams({ post_logout_redirect_url: redirect })}`;
  }

  return {
    async viaGet(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
      if (sameOriginNavigation(request, config.siteUrl)) return endSession(request, reply, 302);
      debug?.explain(
        request,
        'logout',
        'a sign-out from another site: asking the user to confirm; nothing ended',
      );
      // Another site cannot sign the user out; the user still can, with one click here.
      return reply
        .header('cache-control', 'no-store')
        .header('x-frame-options', 'DENY')
        .header(
          'content-security-policy',
          "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        )
        .type('text/html; charset=utf-8')
        .send(confirmSignOutPage(confirmAction(request), config.siteUrl.origin));
    },
    async checkOrigin(request: FastifyRequest): Promise<void> {
      if (sameOriginPost(request, config.siteUrl)) return;
      const from = header(request, 'origin')?.slice(0, 200) ?? 'an unknown origin';
      throw new KindeAuthError(
        'ERR_CROSS_SITE',
        `Sign-out must be sent from this site (${config.siteUrl.origin}); this request came from ${from}. The session was not changed.`,
      );
    },
    viaPost(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
      return endSession(request, reply, 303);
    },
  };
}
