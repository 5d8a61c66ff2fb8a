import type { FastifyInstance, FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import { type EmulatorContext, refreshGrace } from '../context.js';
import { asParams, issuerOf, OAuthError, type Params, param } from '../http.js';
import { verifyOwnToken } from '../tokens.js';
import { authenticateClient } from './token.js';

/** Who may introspect: a client with its secret, or a Bearer M2M token from this emulator. */
async function introspectionCaller(
  ctx: EmulatorContext,
  request: FastifyRequest,
  body: Params,
): Promise<string> {
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (bearer) {
    const payload = await verifyOwnToken(ctx, issuerOf(ctx, request), bearer[1] as string);
    if (!payload || typeof payload.azp !== 'string')
      throw new OAuthError('invalid_client', 'Invalid bearer token', 401);
    return payload.azp;
  }
  const client = authenticateClient(ctx, request, body);
  if (!client.authenticated)
    throw new OAuthError('invalid_client', 'Introspection requires client authentication', 401);
  return client.app.clientId;
}

async function introspect(
  ctx: EmulatorContext,
  issuer: string,
  token: string,
): Promise<Record<string, unknown>> {
  const refresh = ctx.store.refreshTokens.get(token);
  const now = ctx.clock.now();
  if (refresh) {
    const stale = refresh.rotatedAt !== undefined && now > refresh.rotatedAt + refreshGrace(ctx);
    if (ctx.store.revokedFamilies.has(refresh.familyId) || stale || refresh.expiresAt <= now)
      return { active: false };
    return {
      active: true,
      token_type: 'refresh_token',
      client_id: refresh.clientId,
      sub: refresh.userId,
      scope: refresh.scope.join(' '),
      exp: refresh.expiresAt,
      aud: refresh.audience,
    };
  }
  const payload = await verifyOwnToken(ctx, issuer, token);
  if (!payload) return { active: false };
  const out: Record<string, unknown> = {
    active: true,
    token_type: 'access_token',
    aud: payload.aud,
    client_id: payload.azp,
    exp: payload.exp,
    iat: payload.iat,
    scope: Array.isArray(payload.scp) ? payload.scp.join(' ') : payload.scope,
  };
  if (payload.sub) out.sub = payload.sub;
  return out;
}

function revokeAccessToken(ctx: EmulatorContext, clientId: string, token: string): void {
  try {
    const payload = decodeJwt(token);
    if (payload.azp !== clientId || typeof payload.jti !== 'string') return;
    const ttl = Math.max(1, (typeof payload.exp === 'number' ? payload.exp : 0) - ctx.clock.now());
    ctx.store.revokedJtis.set(payload.jti, true, ttl);
  } catch {
    // Not a JWT: nothing to revoke (RFC 7009 answers 200 regardless).
  }
}

/** Registers `POST /oauth2/introspect` (RFC 7662) and `POST /oauth2/revoke` (RFC 7009). */
export function introspectionRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.post('/oauth2/introspect', async (request, reply) => {
    const body = asParams(request.body);
    await introspectionCaller(ctx, request, body);
    const token = param(body, 'token');
    if (!token) throw new OAuthError('invalid_request', 'The "token" parameter is missing');
    return reply
      .header('cache-control', 'no-store')
      .send(await introspect(ctx, issuerOf(ctx, request), token));
  });

  app.post('/oauth2/revoke', async (request, reply) => {
    const body = asParams(request.body);
    const client = authenticateClient(ctx, request, body);
    const token = param(body, 'token');
    if (!token) throw new OAuthError('invalid_request', 'The "token" parameter is missing');
    const refresh = ctx.store.refreshTokens.get(token);
    if (refresh) {
      if (refresh.clientId === client.app.clientId) ctx.store.revokedFamilies.add(refresh.familyId);
    } else {
      revokeAccessToken(ctx, client.app.clientId, token);
    }
    return reply.code(200).header('cache-control', 'no-store').send();
  });
}
