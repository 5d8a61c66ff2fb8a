import { createHash } from 'node:crypto';
import { type EmulatorContext, lifetimes, refreshGrace } from './context.js';
import { findUser } from './directory.js';
import { OAuthError, type Params, param, paramList } from './http.js';
import { managementAudience, managementScopesFor } from './routes/management/auth.js';
import { randomHandle } from './store.js';
import { signAccessToken, signIdToken, signM2mToken, type UserGrant } from './tokens.js';
import type { Application, User } from './types.js';

/** A client as identified at the token endpoint. */
export interface ClientAuth {
  app: Application;
  /** True when a correct client secret was presented. */
  authenticated: boolean;
}

/** The JSON a successful token request answers with. */
export interface TokenResponse {
  access_token: string;
  id_token?: string;
  refresh_token?: string;
  expires_in: number;
  scope: string;
  token_type: 'bearer';
}

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

function requireGrant(app: Application, grant: Application['grants'][number]): void {
  if (!app.grants.includes(grant)) {
    throw new OAuthError('unauthorized_client', `This application may not use the ${grant} grant`);
  }
}

function revokeFamily(ctx: EmulatorContext, familyId: string | undefined): void {
  if (familyId) ctx.store.revokedFamilies.add(familyId);
}

/** An access token still valid, for Kinde's "refresh returns the unexpired access token" behaviour. */
interface LiveAccessToken {
  token: string;
  expiresAt: number;
}

/** Signs the tokens of a user grant (and stores a refresh token when `offline` is granted). */
export async function issueUserTokens(
  ctx: EmulatorContext,
  g: UserGrant,
  familyId: string,
  alwaysIdToken: boolean,
  reuse?: LiveAccessToken,
): Promise<TokenResponse> {
  const ttl = lifetimes(ctx);
  const now = ctx.clock.now();
  const accessToken = reuse?.token ?? (await signAccessToken(ctx, g));
  const accessExpiresAt = reuse?.expiresAt ?? now + ttl.accessToken;
  const res: TokenResponse = {
    access_token: accessToken,
    expires_in: accessExpiresAt - now,
    scope: g.scope.join(' '),
    token_type: 'bearer',
  };
  if (alwaysIdToken || g.scope.includes('openid')) res.id_token = await signIdToken(ctx, g, accessToken);
  const app = ctx.directory.applications.find((a) => a.clientId === g.clientId);
  if (g.scope.includes('offline') && app?.grants.includes('refresh_token')) {
    const token = randomHandle();
    ctx.store.refreshTokens.set(
      token,
      {
        clientId: g.clientId,
        userId: g.user.id,
        scope: g.scope,
        audience: g.audience,
        orgCode: g.orgCode,
        authTime: g.authTime,
        requestedAt: g.requestedAt,
        familyId,
        expiresAt: now + ttl.refreshToken,
        accessToken,
        accessExpiresAt,
      },
      ttl.refreshToken,
    );
    res.refresh_token = token;
  }
  return res;
}

function pkceMatches(verifier: string, challenge: string): boolean {
  return createHash('sha256').update(verifier).digest('base64url') === challenge;
}

function existingUser(ctx: EmulatorContext, userId: string): User {
  const user = findUser(ctx.directory, userId);
  if (!user) throw new OAuthError('invalid_grant', 'The user of this grant no longer exists');
  return user;
}

/** The `authorization_code` grant. */
export async function authorizationCodeGrant(
  ctx: EmulatorContext,
  issuer: string,
  client: ClientAuth,
  body: Params,
): Promise<TokenResponse> {
  requireGrant(client.app, 'authorization_code');
  const code = param(body, 'code');
  if (!code) throw new OAuthError('invalid_request', 'The "code" parameter is missing');
  const grant = ctx.store.codes.get(code);
  if (!grant) throw new OAuthError('invalid_grant', 'The authorization code is invalid');
  if (grant.used) {
    revokeFamily(ctx, grant.familyId);
    throw new OAuthError('invalid_grant', 'The authorization code was already used; its tokens are revoked');
  }
  if (grant.expiresAt <= ctx.clock.now())
    throw new OAuthError('invalid_grant', 'The authorization code expired');
  if (grant.clientId !== client.app.clientId) {
    throw new OAuthError('invalid_grant', 'The authorization code was issued to another client');
  }
  if (param(body, 'redirect_uri') !== grant.redirectUri) {
    throw new OAuthError(
      'invalid_grant',
      'redirect_uri does not match the one used in the authorization request',
    );
  }
  const verifier = param(body, 'code_verifier');
  if (grant.codeChallenge) {
    if (!verifier) throw new OAuthError('invalid_grant', 'code_verifier is required (PKCE)');
    if (!VERIFIER.test(verifier) || !pkceMatches(verifier, grant.codeChallenge)) {
      throw new OAuthError('invalid_grant', 'PKCE verification failed: code_verifier does not match');
    }
  } else {
    if (verifier) throw new OAuthError('invalid_grant', 'code_verifier sent but no code_challenge was used');
    if (!client.authenticated) {
      throw new OAuthError('invalid_client', 'Client authentication is required without PKCE', 401);
    }
  }
  grant.used = true;
  grant.familyId = randomHandle(12);
  const user = existingUser(ctx, grant.userId);
  const g: UserGrant = { ...grant, issuer, clientId: grant.clientId, user };
  return issueUserTokens(ctx, g, grant.familyId, false);
}

/** The `refresh_token` grant: rotates, with a grace window for the previous token. */
export async function refreshTokenGrant(
  ctx: EmulatorContext,
  issuer: string,
  client: ClientAuth,
  body: Params,
): Promise<TokenResponse> {
  requireGrant(client.app, 'refresh_token');
  const token = param(body, 'refresh_token');
  if (!token) throw new OAuthError('invalid_request', 'The "refresh_token" parameter is missing');
  const grant = ctx.store.refreshTokens.get(token);
  if (!grant || ctx.store.revokedFamilies.has(grant.familyId)) {
    throw new OAuthError('invalid_grant', 'The refresh token is invalid or revoked');
  }
  if (grant.clientId !== client.app.clientId) {
    throw new OAuthError('invalid_grant', 'The refresh token was issued to another client');
  }
  const now = ctx.clock.now();
  if (grant.expiresAt <= now) throw new OAuthError('invalid_grant', 'The refresh token expired');
  if (grant.rotatedAt !== undefined && now > grant.rotatedAt + refreshGrace(ctx)) {
    revokeFamily(ctx, grant.familyId);
    throw new OAuthError(
      'invalid_grant',
      'The refresh token was already rotated; its token family is revoked',
    );
  }
  grant.rotatedAt ??= now;
  const user = existingUser(ctx, grant.userId);
  const g: UserGrant = { ...grant, issuer, user, nonce: undefined };
  const live =
    ctx.reuseAccessTokenOnRefresh && grant.accessToken && (grant.accessExpiresAt ?? 0) > now
      ? { token: grant.accessToken, expiresAt: grant.accessExpiresAt as number }
      : undefined;
  return issueUserTokens(ctx, g, grant.familyId, true, live);
}

/** The `client_credentials` grant (machine to machine). */
export async function clientCredentialsGrant(
  ctx: EmulatorContext,
  issuer: string,
  client: ClientAuth,
  body: Params,
): Promise<TokenResponse> {
  if (!client.authenticated) {
    throw new OAuthError('invalid_client', 'client_credentials requires the client secret', 401);
  }
  requireGrant(client.app, 'client_credentials');
  const audience = paramList(body, 'audience');
  const allowed = client.app.audiences ?? [];
  const unknown = audience.find((a) => allowed.length > 0 && !allowed.includes(a));
  if (unknown)
    throw new OAuthError('invalid_target', `This application may not request audience "${unknown}"`);
  const requested = paramList(body, 'scope');
  // Management API tokens carry the scopes the app is granted for it (the client sends `scope=`).
  const scope = audience.includes(managementAudience(issuer))
    ? managementScopesFor(client.app, requested)
    : requested;
  const token = await signM2mToken(ctx, issuer, client.app, scope, audience);
  return {
    access_token: token,
    expires_in: lifetimes(ctx).accessToken,
    scope: scope.join(' '),
    token_type: 'bearer',
  };
}
