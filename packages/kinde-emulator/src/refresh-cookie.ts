import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from './context.js';
import { SSO_COOKIE } from './flow.js';
import { isLoopbackUrl, parseCookies, safeUrl } from './http.js';
import type { Application } from './types.js';

/**
 * The readable marker cookie js-utils looks for (`document.cookie`) to choose a cookie refresh on a
 * custom domain; its value carries no secret.
 */
export const REFRESH_MARKER = '_kbrte';
/** Where the HttpOnly refresh cookie is sent: the token endpoint only. */
const REFRESH_PATH = '/oauth2/token';

/**
 * The HttpOnly refresh cookie's name for a client: one per application, so two apps signed in from
 * the same browser do not overwrite each other's token.
 */
export function refreshCookieName(clientId: string): string {
  return `kinde_emu_rt_${clientId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The origin (scheme://host:port) of a browser `Origin` header value, or undefined for `null`/junk. */
function originOf(value: string | undefined): string | undefined {
  if (!value || value === 'null') return undefined;
  const url = safeUrl(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  // An Origin header is exactly an origin; anything with a path, credentials or query is not one.
  return url.origin === value ? value : undefined;
}

/** Whether a browser page on `origin` belongs to `app`: the origin of a callback or logout URL. */
export function originAllowedFor(app: Application, origin: string | undefined): boolean {
  const o = originOf(origin);
  if (!o) return false;
  if (app.allowLoopbackRedirects === true && isLoopbackUrl(o)) return true;
  return [...app.redirectUris, ...app.logoutUris].some((uri) => safeUrl(uri)?.origin === o);
}

/** CORS: loopback origins (as before) and the origins of every application's registered URLs. */
export function corsOriginAllowed(ctx: EmulatorContext, origin: string): boolean {
  if (isLoopbackUrl(origin)) return true;
  return ctx.directory.applications.some((a) => originAllowedFor(a, origin));
}

function cookie(request: FastifyRequest, name: string, value: string, attrs: string, maxAge: number): string {
  // Over https the cookies may cross sites (SameSite=None needs Secure); over http they stay same-site.
  const site = request.protocol === 'https' ? 'SameSite=None; Secure' : 'SameSite=Lax';
  return `${name}=${value}; ${attrs}; ${site}; Max-Age=${maxAge}`;
}

/** Remembers which refresh families a browser's SSO session holds, to revoke them at logout. */
const familiesBySession = new WeakMap<EmulatorContext, Map<string, Set<string>>>();

function linkFamily(ctx: EmulatorContext, request: FastifyRequest, familyId: string): void {
  const sid = parseCookies(request.headers.cookie).get(SSO_COOKIE);
  if (!sid) return;
  const map = familiesBySession.get(ctx) ?? new Map<string, Set<string>>();
  familiesBySession.set(ctx, map);
  const set = map.get(sid) ?? new Set<string>();
  set.add(familyId);
  map.set(sid, set);
}

/**
 * Sets the refresh cookie and the `_kbrte` marker on a token response to a page of `app` (the
 * browser keeps them only for a credentialed CORS request, as js-utils sends on custom domains).
 */
export function setRefreshCookies(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  app: Application,
  refreshToken: string,
  maxAge: number,
): void {
  const familyId = ctx.store.refreshTokens.get(refreshToken)?.familyId;
  if (familyId) linkFamily(ctx, request, familyId);
  const attrs = `Path=${REFRESH_PATH}; HttpOnly`;
  reply.header('set-cookie', cookie(request, refreshCookieName(app.clientId), refreshToken, attrs, maxAge));
  reply.header('set-cookie', cookie(request, REFRESH_MARKER, '1', 'Path=/', maxAge));
}

/** Clears `app`'s refresh cookie and the marker (a refresh by cookie failed for good). */
export function clearRefreshCookies(request: FastifyRequest, reply: FastifyReply, apps: Application[]): void {
  for (const app of apps) {
    const attrs = `Path=${REFRESH_PATH}; HttpOnly`;
    reply.header('set-cookie', cookie(request, refreshCookieName(app.clientId), '', attrs, 0));
  }
  reply.header('set-cookie', cookie(request, REFRESH_MARKER, '', 'Path=/', 0));
}

/** The refresh token in `app`'s cookie, if the request carries one. */
export function refreshTokenFromCookie(request: FastifyRequest, app: Application): string | undefined {
  return parseCookies(request.headers.cookie).get(refreshCookieName(app.clientId)) || undefined;
}

/**
 * At logout: revokes the refresh families issued by cookie to this browser's SSO session and clears
 * every application's refresh cookie and the marker. Call before the SSO session is ended.
 */
export function endCookieRefresh(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply): void {
  const sid = parseCookies(request.headers.cookie).get(SSO_COOKIE);
  const map = familiesBySession.get(ctx);
  if (sid && map) {
    for (const familyId of map.get(sid) ?? []) ctx.store.revokedFamilies.add(familyId);
    map.delete(sid);
  }
  clearRefreshCookies(request, reply, ctx.directory.applications);
}
