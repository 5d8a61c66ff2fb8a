import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { findUser, fullName } from '../directory.js';
import { issuerOf } from '../http.js';
import { verifyOwnToken } from '../tokens.js';
import type { User } from '../types.js';

function invalidToken(reply: FastifyReply, description: string): FastifyReply {
  return reply
    .code(401)
    .header('www-authenticate', `Bearer error="invalid_token", error_description="${description}"`)
    .header('cache-control', 'no-store')
    .send({ error: 'invalid_token', error_description: description });
}

/** Resolves the user of a Bearer access token, or answers 401 itself. */
export async function bearerUser(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<
  { user: User; updatedAt: number; orgCode: string | undefined; clientId: string | undefined } | undefined
> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (!match) {
    invalidToken(reply, 'A Bearer access token is required');
    return undefined;
  }
  const payload = await verifyOwnToken(ctx, issuerOf(ctx, request), match[1] as string);
  const user = typeof payload?.sub === 'string' ? findUser(ctx.directory, payload.sub) : undefined;
  if (!payload || !user || payload.gty !== undefined) {
    invalidToken(reply, 'The access token is invalid or expired');
    return undefined;
  }
  const orgCode = typeof payload.org_code === 'string' ? payload.org_code : undefined;
  const clientId = typeof payload.azp === 'string' ? payload.azp : undefined;
  return { user, updatedAt: user.updatedAt ?? (payload.iat as number), orgCode, clientId };
}

/** Kinde's v2 profile (`/oauth2/v2/user_profile`). */
export function profileV2(user: User, updatedAt: number): Record<string, unknown> {
  return {
    id: user.id,
    sub: user.id,
    provided_id: user.providedId ?? null,
    name: fullName(user),
    given_name: user.givenName,
    family_name: user.familyName,
    updated_at: updatedAt,
    email: user.email,
    email_verified: user.emailVerified ?? true,
    picture: user.picture ?? null,
    preferred_username: user.username ?? null,
  };
}

/** Kinde's v1 profile (`/oauth2/user_profile`). */
export function profileV1(user: User): Record<string, unknown> {
  return {
    id: user.id,
    preferred_email: user.email,
    username: user.username ?? null,
    provided_id: user.providedId ?? null,
    last_name: user.familyName,
    first_name: user.givenName,
    picture: user.picture ?? null,
  };
}

/** Registers the user profile endpoints (v2, v1, and `/oauth2/userinfo`). */
export function profileRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  const v2 = async (request: FastifyRequest, reply: FastifyReply) => {
    const found = await bearerUser(ctx, request, reply);
    if (!found) return reply;
    return reply.header('cache-control', 'no-store').send(profileV2(found.user, found.updatedAt));
  };
  app.get('/oauth2/v2/user_profile', v2);
  app.get('/oauth2/userinfo', v2);
  app.get('/oauth2/user_profile', async (request, reply) => {
    const found = await bearerUser(ctx, request, reply);
    if (!found) return reply;
    return reply.header('cache-control', 'no-store').send(profileV1(found.user));
  });
}
