import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KindeConfig } from './config.js';
import { type DebugLog, pathOnly } from './debug.js';
import { KindeAuthError } from './errors.js';
import { tracedProvider } from './telemetry.js';

/** Kinde's self-serve portal sections: js-utils' `PortalPage` values, what `subNav` may name. */
export const PORTAL_PAGES = [
  'organization_details',
  'organization_members',
  'organization_plan_details',
  'organization_payment_details',
  'organization_plan_selection',
  'payment_details',
  'plan_selection',
  'plan_details',
  'profile',
] as const;

/** One of {@link PORTAL_PAGES}. */
export type PortalPage = (typeof PORTAL_PAGES)[number];

/** The query of the portal route, named as Kinde's Next.js SDK names it. */
export interface PortalQuery {
  subNav?: string;
  returnUrl?: string;
}

export const portalQuery = {
  type: 'object',
  properties: {
    subNav: {
      type: 'string',
      maxLength: 64,
      description: `One of ${PORTAL_PAGES.join(', ')}; default profile`,
    },
    returnUrl: {
      type: 'string',
      maxLength: 2048,
      description: 'Where the portal links back to: a URL (or path) on this site; default the site URL',
    },
  },
} as const;

const PORTAL_TIMEOUT_MS = 5_000;
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

function badRequest(message: string): KindeAuthError {
  return new KindeAuthError('ERR_BAD_REQUEST', message);
}

/** `subNav` checked against Kinde's list; absent means `profile`, as js-utils defaults. */
export function portalSubNav(value: string | undefined): PortalPage {
  if (value === undefined || value === '') return 'profile';
  if ((PORTAL_PAGES as readonly string[]).includes(value)) return value as PortalPage;
  throw badRequest(`subNav must be one of ${PORTAL_PAGES.join(', ')}; got "${value.slice(0, 64)}"`);
}

/**
 * `returnUrl` resolved against the site (a path is fine) and checked as resolved: it must be on the
 * site's origin, over http(s). Absent means the site URL, as Kinde's Next.js SDK defaults.
 */
export function portalReturnUrl(value: string | undefined, site: URL): string {
  if (value === undefined || value === '') return site.href;
  const refused = () =>
    badRequest(
      `returnUrl must be a URL on this site (${site.origin}), or a path; got "${value.slice(0, 200)}"`,
    );
  if (CONTROL.test(value)) throw refused();
  let url: URL;
  try {
    url = new URL(value, site);
  } catch {
    throw refused();
  }
  if (url.origin !== site.origin || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw refused();
  return url.href;
}

/** The portal URL the provider answered, accepted only over https or on the issuer's own origin. */
function portalTarget(body: unknown, issuer: URL): URL {
  const url = (body as { url?: unknown } | null)?.url;
  let target: URL | undefined;
  try {
    target = typeof url === 'string' ? new URL(url) : undefined;
  } catch {
    target = undefined;
  }
  if (target === undefined || (target.protocol !== 'https:' && target.origin !== issuer.origin)) {
    throw new KindeAuthError(
      'ERR_PROVIDER_RESPONSE',
      'The provider answered the portal link request without a usable https URL',
    );
  }
  return target;
}

/** Asks the Account API for a portal link (`GET /account_api/v1/portal_link`, as js-utils' `generatePortalUrl`). */
export async function fetchPortalLink(
  issuerUrl: string,
  accessToken: string,
  subNav: PortalPage,
  returnUrl: string,
): Promise<URL> {
  const issuer = new URL(issuerUrl);
  const url = new URL(`${issuerUrl}/account_api/v1/portal_link`);
  url.search = new URLSearchParams({ subnav: subNav, return_url: returnUrl }).toString();
  let response: Response;
  try {
    response = await tracedProvider('account_api', () =>
      fetch(url, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        signal: AbortSignal.timeout(PORTAL_TIMEOUT_MS),
      }),
    );
  } catch (error) {
    throw new KindeAuthError(
      'ERR_PROVIDER_UNAVAILABLE',
      'The self-serve portal is unavailable: the identity provider could not be reached',
      {},
      { cause: error },
    );
  }
  const body = (await response.json().catch(() => null)) as unknown;
  if (response.status >= 500) {
    throw new KindeAuthError(
      'ERR_PROVIDER_UNAVAILABLE',
      'The self-serve portal is unavailable: the identity provider failed; try again shortly',
      { status: String(response.status) },
    );
  }
  if (!response.ok) {
    throw new KindeAuthError(
      'ERR_PROVIDER_RESPONSE',
      `The provider refused the portal link request (HTTP ${response.status})`,
      { status: String(response.status) },
    );
  }
  return portalTarget(body, issuer);
}

function header(request: FastifyRequest, name: string): string {
  const value = request.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/** A browser's speculative load (Next.js `isPreFetch`, `Sec-Purpose: prefetch`): it must not mint a link. */
function isPrefetch(request: FastifyRequest): boolean {
  return (
    header(request, 'sec-purpose').includes('prefetch') ||
    header(request, 'purpose') === 'prefetch' ||
    header(request, 'next-router-prefetch') !== ''
  );
}

/** A person's browser opening a page (rather than a script asking for JSON). */
function isNavigation(request: FastifyRequest): boolean {
  const mode = header(request, 'sec-fetch-mode');
  if (mode !== '') return mode === 'navigate';
  return header(request, 'accept').includes('text/html');
}

/**
 * The handler of `GET /api/auth/portal?subNav=&returnUrl=`: sends a signed-in user to Kinde's
 * self-serve portal. Signed out, a browser goes to login and comes back here; a script gets 401.
 *
 * @example
 * ```ts
 * app.get('/api/auth/portal', { errorHandler: renderError }, portalHandler(config));
 * ```
 */
export function portalHandler(config: KindeConfig, debug?: DebugLog) {
  return async (request: FastifyRequest<{ Querystring: PortalQuery }>, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
    if (isPrefetch(request)) return reply.code(204).send();
    const subNav = portalSubNav(request.query.subNav);
    const returnUrl = portalReturnUrl(request.query.returnUrl, config.siteUrl);
    const kinde = request.kinde;
    if (kinde.unavailable) {
      throw new KindeAuthError(
        kinde.problem === null ? 'ERR_STORE_UNAVAILABLE' : 'ERR_PROVIDER_UNAVAILABLE',
        kinde.problem ?? 'The session cannot be read right now; try again shortly',
      );
    }
    const accessToken = kinde.kind === 'user' ? kinde.getAccessToken() : null;
    if (accessToken === null) {
      if (kinde.kind === 'anonymous' && isNavigation(request)) {
        const back = new URLSearchParams({ returnTo: request.url });
        debug?.explain(
          request,
          'portal',
          'portal asked for while signed out: to login first, then back here',
        );
        return reply.redirect(`${config.routes.login}?${back}`, 302);
      }
      if (kinde.kind === 'machine') {
        throw new KindeAuthError(
          'ERR_MISSING_PERMISSION',
          'The self-serve portal is for signed-in users; a machine token has no portal',
        );
      }
      throw new KindeAuthError(
        'ERR_NOT_AUTHENTICATED',
        'Not authenticated: sign in to open the self-serve portal',
      );
    }
    const target = await fetchPortalLink(config.issuerUrl, accessToken, subNav, returnUrl);
    debug?.explain(request, 'portal', 'portal link made: redirecting to the portal of the provider', {
      userId: kinde.getUser()?.id ?? null,
      subNav,
      returnUrl: pathOnly(returnUrl),
      portalOrigin: target.origin,
    });
    return reply.redirect(target.href, 302);
  };
}
