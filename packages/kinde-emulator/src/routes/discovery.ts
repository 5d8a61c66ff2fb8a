import type { FastifyInstance } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { issuerOf } from '../http.js';

/** The OpenID Connect discovery document for `issuer`. */
export function discoveryDocument(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth2/auth`,
    token_endpoint: `${issuer}/oauth2/token`,
    userinfo_endpoint: `${issuer}/oauth2/v2/user_profile`,
    end_session_endpoint: `${issuer}/logout`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    introspection_endpoint: `${issuer}/oauth2/introspect`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    code_challenge_methods_supported: ['S256'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'profile', 'email', 'offline'],
    token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic', 'none'],
    subject_types_supported: ['public'],
    claims_supported: [
      'aud',
      'auth_time',
      'azp',
      'email',
      'email_verified',
      'exp',
      'family_name',
      'given_name',
      'iat',
      'iss',
      'jti',
      'name',
      'nonce',
      'org_codes',
      'organizations',
      'picture',
      'rat',
      'sub',
      'updated_at',
    ],
    request_uri_parameter_supported: false,
  };
}

/** Registers discovery and the JWKS (`/.well-known/jwks.json` and its `/.well-known/jwks` alias). */
export function discoveryRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.get('/.well-known/openid-configuration', async (request, reply) =>
    reply.header('cache-control', 'public, max-age=60').send(discoveryDocument(issuerOf(ctx, request))),
  );
  const jwks = async (_request: unknown, reply: import('fastify').FastifyReply) =>
    reply.header('cache-control', 'public, max-age=60').send(ctx.keys.publicJwks());
  app.get('/.well-known/jwks.json', jwks);
  app.get('/.well-known/jwks', jwks);
}
