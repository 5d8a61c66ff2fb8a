import { createHash, randomUUID } from 'node:crypto';
import { decodeProtectedHeader, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { type EmulatorContext, lifetimes } from './context.js';
import { findApplication, findOrganization, fullName, orgClaims } from './directory.js';
import type { Application, User } from './types.js';

/** What a user token is issued for. */
export interface UserGrant {
  issuer: string;
  clientId: string;
  user: User;
  scope: string[];
  audience: string[];
  orgCode: string | undefined;
  nonce: string | undefined;
  authTime: number;
  requestedAt: number;
}

/** Property values in Kinde's claim form: `{ key: { v } }`. */
function propertyClaim(values: Record<string, unknown>): Record<string, { v: unknown }> {
  const claim: Record<string, { v: unknown }> = {};
  for (const [key, v] of Object.entries(values)) claim[key] = { v };
  return claim;
}

async function sign(ctx: EmulatorContext, payload: JWTPayload): Promise<string> {
  const key = ctx.keys.active;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

/** OIDC `at_hash`: base64url of the left half of SHA-256 of the access token. */
export function atHash(accessToken: string): string {
  const digest = createHash('sha256').update(accessToken).digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** Signs a user access token shaped like Kinde's (KINDE-WIRE.md B.1). */
export async function signAccessToken(ctx: EmulatorContext, g: UserGrant): Promise<string> {
  const iat = ctx.clock.now();
  const claims: JWTPayload = {
    iss: g.issuer,
    sub: g.user.id,
    aud: [...g.audience],
    azp: g.clientId,
    iat,
    exp: iat + lifetimes(ctx).accessToken,
    jti: randomUUID(),
    scp: [...g.scope],
    v: '2',
    // Kinde's session persistence: apps keep a browser-session cookie when it is false.
    ksp: { persistent: findApplication(ctx.directory, g.clientId)?.persistentSessions ?? true },
  };
  if (g.user.properties) claims.user_properties = propertyClaim(g.user.properties);
  const org = g.orgCode ? orgClaims(ctx.directory, g.user, g.orgCode) : undefined;
  if (org) {
    claims.org_code = org.orgCode;
    claims.org_name = org.orgName;
    claims.permissions = org.permissions;
    claims.roles = org.roles;
    claims.feature_flags = org.featureFlags;
    const properties = findOrganization(ctx.directory, org.orgCode)?.properties;
    if (properties) claims.organization_properties = propertyClaim(properties);
  } else {
    claims.permissions = [];
    claims.roles = [];
    claims.feature_flags = {};
  }
  return sign(ctx, claims);
}

/** Signs an ID token shaped like Kinde's (KINDE-WIRE.md B.2). */
export async function signIdToken(ctx: EmulatorContext, g: UserGrant, accessToken: string): Promise<string> {
  const iat = ctx.clock.now();
  const u = g.user;
  const orgs = u.organizations.map((m) => ({
    id: m.orgCode,
    name: ctx.directory.organizations.find((o) => o.code === m.orgCode)?.name ?? m.orgCode,
  }));
  const claims: JWTPayload = {
    iss: g.issuer,
    sub: u.id,
    aud: [g.clientId],
    azp: g.clientId,
    iat,
    exp: iat + lifetimes(ctx).idToken,
    auth_time: g.authTime,
    at_hash: atHash(accessToken),
    jti: randomUUID(),
    email: u.email,
    email_verified: u.emailVerified ?? true,
    given_name: u.givenName,
    family_name: u.familyName,
    name: fullName(u),
    picture: u.picture ?? null,
    org_codes: orgs.map((o) => o.id),
    organizations: orgs,
    updated_at: u.updatedAt ?? g.requestedAt,
    rat: g.requestedAt,
  };
  if (u.providedId) claims.provided_id = u.providedId;
  if (u.username) claims.preferred_username = u.username;
  if (u.phoneNumber) claims.phone_number = u.phoneNumber;
  if (u.properties) claims.user_properties = propertyClaim(u.properties);
  if (g.nonce !== undefined) claims.nonce = g.nonce;
  return sign(ctx, claims);
}

/** Signs a machine-to-machine (client_credentials) access token. */
export async function signM2mToken(
  ctx: EmulatorContext,
  issuer: string,
  app: Application,
  scope: string[],
  audience: string[],
): Promise<string> {
  const iat = ctx.clock.now();
  const claims: JWTPayload = {
    iss: issuer,
    aud: [...audience],
    azp: app.clientId,
    iat,
    exp: iat + lifetimes(ctx).accessToken,
    jti: randomUUID(),
    gty: ['client_credentials'],
    scope: scope.join(' '),
    scp: [...scope],
    v: '2',
  };
  if (app.orgCode) claims.org_code = app.orgCode;
  if (app.permissions) claims.permissions = [...app.permissions];
  return sign(ctx, claims);
}

/**
 * Verifies a token this emulator signed (signature with a published key, issuer, expiry against the
 * emulator clock). Returns the payload, or undefined for anything invalid.
 */
export async function verifyOwnToken(
  ctx: EmulatorContext,
  issuer: string,
  token: string,
): Promise<JWTPayload | undefined> {
  try {
    const { kid } = decodeProtectedHeader(token);
    const key = kid ? ctx.keys.find(kid) : undefined;
    if (!key) return undefined;
    const { payload } = await jwtVerify(token, key.publicKey, {
      issuer,
      algorithms: ['RS256'],
      currentDate: new Date(ctx.clock.now() * 1000),
    });
    if (typeof payload.jti === 'string' && ctx.store.revokedJtis.get(payload.jti)) return undefined;
    return payload;
  } catch {
    return undefined;
  }
}
