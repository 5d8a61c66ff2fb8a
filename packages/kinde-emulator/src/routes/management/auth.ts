import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import type { EmulatorContext } from '../../context.js';
import { issuerOf, OAuthError } from '../../http.js';
import { verifyOwnToken } from '../../tokens.js';
import type { Application } from '../../types.js';
import { ApiError } from './common.js';

/** Every Management API scope the emulator serves (Kinde's names, from the client's spec). */
export const MANAGEMENT_SCOPES = [
  'read:users',
  'create:users',
  'update:users',
  'delete:users',
  'update:user_feature_flags',
  'update:user_refresh_claims',
  'read:organizations',
  'create:organizations',
  'read:organization_users',
  'create:organization_users',
  'update:organization_users',
  'delete:organization_users',
  'read:organization_user_roles',
  'create:organization_user_roles',
  'delete:organization_user_roles',
  'read:organization_user_permissions',
  'create:organization_user_permissions',
  'delete:organization_user_permissions',
  'read:organization_feature_flags',
  'update:organization_feature_flags',
  'read:roles',
  'read:permissions',
  'create:permissions',
  'read:applications',
  'read:environment_feature_flags',
  'update:environment_feature_flags',
  'create:feature_flags',
] as const;

/** A Management API scope. */
export type ManagementScope = (typeof MANAGEMENT_SCOPES)[number];

/** The audience of Management API tokens: `<issuer>/api`. */
export function managementAudience(issuer: string): string {
  return `${issuer}/api`;
}

/**
 * The scopes a client_credentials token for the Management API carries: those requested (each must
 * be granted to the app), or all the app is granted when none are (what `@kinde/management-api-js`
 * does: it sends `scope=`).
 */
export function managementScopesFor(app: Application, requested: string[]): string[] {
  const granted: readonly string[] = app.managementScopes ?? MANAGEMENT_SCOPES;
  if (requested.length === 0) return [...granted];
  const missing = requested.find((s) => !granted.includes(s));
  if (missing !== undefined) {
    throw new OAuthError(
      'invalid_scope',
      `This application is not granted the Management API scope "${missing}"`,
    );
  }
  return requested;
}

async function tokenScopes(ctx: EmulatorContext, request: FastifyRequest): Promise<string[]> {
  const header = request.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new ApiError(401, 'UNAUTHORIZED', 'A Bearer access token is required');
  const issuer = issuerOf(ctx, request);
  const claims = await verifyOwnToken(ctx, issuer, match[1] as string);
  if (!claims) throw new ApiError(401, 'TOKEN_INVALID', 'The access token is invalid, expired or revoked');
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(managementAudience(issuer))) {
    throw new ApiError(
      403,
      'TOKEN_AUDIENCE_INVALID',
      `The token's audience must include ${managementAudience(issuer)}`,
    );
  }
  const gty = Array.isArray(claims.gty) ? claims.gty : [];
  if (!gty.includes('client_credentials')) {
    throw new ApiError(403, 'M2M_TOKEN_REQUIRED', 'The Management API takes machine-to-machine tokens');
  }
  return Array.isArray(claims.scp) ? claims.scp.filter((s): s is string => typeof s === 'string') : [];
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown> | unknown;

/** Registers a Management API route that needs a valid M2M token carrying `scope`. */
export function route(
  app: FastifyInstance,
  ctx: EmulatorContext,
  method: HTTPMethods,
  url: string,
  scope: ManagementScope,
  handler: Handler,
): void {
  app.route({
    method,
    url,
    handler: async (request, reply) => {
      const scopes = await tokenScopes(ctx, request);
      if (!scopes.includes(scope)) {
        throw new ApiError(403, 'FORBIDDEN', `The token lacks the "${scope}" scope this call requires`);
      }
      const result = await handler(request, reply);
      return reply.header('cache-control', 'no-store').send(result);
    },
  });
}
