import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type EmulatorContext, lifetimes } from '../context.js';
import { findApplication } from '../directory.js';
import {
  authorizationCodeGrant,
  type ClientAuth,
  clientCredentialsGrant,
  refreshTokenGrant,
} from '../grants.js';
import { asParams, issuerOf, OAuthError, type Params, param } from '../http.js';
import {
  clearRefreshCookies,
  originAllowedFor,
  refreshTokenFromCookie,
  setRefreshCookies,
} from '../refresh-cookie.js';

function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) throw new OAuthError('invalid_client', 'Malformed Authorization header', 401);
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError('invalid_client', 'Malformed Basic credentials', 401);
  try {
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    throw new OAuthError('invalid_client', 'Malformed Basic credentials', 401);
  }
}

/**
 * Identifies the client by `client_secret_basic`, `client_secret_post` or `none` (client_id only).
 * A presented secret must be right; whether one is required depends on the grant.
 */
export function authenticateClient(ctx: EmulatorContext, request: FastifyRequest, body: Params): ClientAuth {
  const basic = basicCredentials(request.headers.authorization);
  const bodyId = param(body, 'client_id');
  const bodySecret = param(body, 'client_secret');
  if (basic && bodySecret !== undefined) {
    throw new OAuthError(
      'invalid_request',
      'Use one client authentication method, not Basic and client_secret',
    );
  }
  if (basic && bodyId !== undefined && bodyId !== basic.id) {
    throw new OAuthError('invalid_request', 'client_id in the body differs from the Basic credentials');
  }
  const clientId = basic?.id ?? bodyId;
  const secret = basic?.secret ?? bodySecret;
  if (!clientId) throw new OAuthError('invalid_client', 'Client authentication failed: no client_id', 401);
  const app = findApplication(ctx.directory, clientId);
  if (!app) throw new OAuthError('invalid_client', 'Client authentication failed: unknown client', 401);
  if (secret === undefined) return { app, authenticated: false };
  if (!app.clientSecret || !secretsEqual(secret, app.clientSecret)) {
    throw new OAuthError('invalid_client', 'Client authentication failed: wrong client secret', 401);
  }
  return { app, authenticated: true };
}

/**
 * A refresh without `refresh_token` from a page of the application (js-utils on a custom domain):
 * the token comes from the HttpOnly cookie. Only an allowed Origin may use it, so another site
 * cannot spend the cookie.
 */
function cookieRefresh(request: FastifyRequest, client: ClientAuth, body: Params): Params | undefined {
  if (param(body, 'grant_type') !== 'refresh_token' || param(body, 'refresh_token') !== undefined) {
    return undefined;
  }
  const origin = request.headers.origin;
  const fromCookie = refreshTokenFromCookie(request, client.app);
  if (!fromCookie) {
    throw new OAuthError(
      'invalid_request',
      'The "refresh_token" parameter is missing and no refresh cookie was sent',
    );
  }
  if (!originAllowedFor(client.app, origin)) {
    throw new OAuthError(
      'invalid_request',
      "A refresh by cookie needs an Origin of one of the application's callback or logout URLs",
    );
  }
  return { ...body, refresh_token: fromCookie };
}

/** Registers `POST /oauth2/token`. */
export function tokenRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.post('/oauth2/token', async (request, reply) => {
    const body = asParams(request.body);
    const grantType = param(body, 'grant_type');
    if (!grantType) throw new OAuthError('invalid_request', 'The "grant_type" parameter is missing');
    const grants = {
      authorization_code: authorizationCodeGrant,
      refresh_token: refreshTokenGrant,
      client_credentials: clientCredentialsGrant,
    } as const;
    const handler = grants[grantType as keyof typeof grants];
    if (!Object.hasOwn(grants, grantType) || !handler) {
      throw new OAuthError('unsupported_grant_type', `grant_type "${grantType}" is not supported`);
    }
    const client = authenticateClient(ctx, request, body);
    const viaCookie = cookieRefresh(request, client, body);
    let result: Awaited<ReturnType<typeof handler>>;
    try {
      result = await handler(ctx, issuerOf(ctx, request), client, viaCookie ?? body);
    } catch (err) {
      // A dead cookie would be retried on every page load: drop it with the marker.
      if (viaCookie && err instanceof OAuthError && err.error === 'invalid_grant') {
        clearRefreshCookies(request, reply, [client.app]);
      }
      throw err;
    }
    if (result.refresh_token && originAllowedFor(client.app, request.headers.origin)) {
      setRefreshCookies(ctx, request, reply, client.app, result.refresh_token, lifetimes(ctx).refreshToken);
    }
    return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(result);
  });
}
