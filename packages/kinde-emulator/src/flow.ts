import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from './context.js';
import { findOrganization } from './directory.js';
import { parseCookies, withParams } from './http.js';
import { type AuthRequest, randomHandle, type SsoSession } from './store.js';
import type { Membership, User } from './types.js';
import { organizationData, userData } from './webhooks/events.js';

/** Name of the SSO session cookie on the emulator origin. */
export const SSO_COOKIE = 'kinde_emu_session';
/** Lifetime of a login transaction (seconds). */
export const TRANSACTION_TTL = 15 * 60;
/** Lifetime of an authorization code (seconds). */
export const CODE_TTL = 60;
/** Lifetime of the SSO session (seconds). */
export const SSO_TTL = 30 * 24 * 3600;

/** A browser-facing error, answered with the HTML error page. */
export class PageError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
    this.name = 'PageError';
  }
}

/** An error to send back to the client's redirect_uri (after it has been validated). */
export class RedirectError extends Error {
  constructor(
    readonly error: string,
    message: string,
  ) {
    super(message);
    this.name = 'RedirectError';
  }
}

/** Reads the SSO session of this browser, if any (and if its user still exists). */
export function currentSession(ctx: EmulatorContext, request: FastifyRequest): SsoSession | undefined {
  const sid = parseCookies(request.headers.cookie).get(SSO_COOKIE);
  if (!sid) return undefined;
  const session = ctx.store.sessions.get(sid);
  if (!session || !ctx.directory.users.some((u) => u.id === session.userId)) return undefined;
  return session;
}

/** The Set-Cookie value of the SSO session cookie (`maxAge` 0 clears it). */
export function ssoCookie(request: FastifyRequest, value: string, maxAge?: number): string {
  const secure = request.protocol === 'https' ? '; Secure' : '';
  const age = maxAge === undefined ? '' : `; Max-Age=${maxAge}`;
  return `${SSO_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax${secure}${age}`;
}

/** Clears the SSO session (server side and cookie). */
export function endSession(ctx: EmulatorContext, request: FastifyRequest, reply: FastifyReply): void {
  const sid = parseCookies(request.headers.cookie).get(SSO_COOKIE);
  if (sid) ctx.store.sessions.delete(sid);
  reply.header('set-cookie', ssoCookie(request, '', 0));
}

/**
 * Which organization the user signs in to: the requested `org_code` (must be a member), the only
 * one, the SSO session's, or `'pick'` when the person has to choose.
 */
export function chooseOrg(req: AuthRequest, user: User, sessionOrg?: string): string | undefined | 'pick' {
  const codes = user.organizations.map((m) => m.orgCode);
  if (req.orgCode) {
    if (!codes.includes(req.orgCode)) {
      throw new RedirectError('access_denied', `User is not a member of organization ${req.orgCode}`);
    }
    return req.orgCode;
  }
  if (codes.length <= 1) return codes[0];
  if (sessionOrg && codes.includes(sessionOrg)) return sessionOrg;
  return 'pick';
}

/** Creates an organization for `is_create_org=true`, with the user as its first member. */
export function createOrgFor(ctx: EmulatorContext, req: AuthRequest, user: User): string {
  const code = `org_${randomBytes(6).toString('hex')}`;
  const name = req.orgName?.trim() || `${user.givenName || user.email}'s organization`;
  const org = { code, name };
  ctx.directory.organizations.push(org);
  const membership: Membership = { orgCode: code, permissions: [], roles: [] };
  user.organizations.push(membership);
  ctx.webhooks?.emit('organization.created', organizationData(org), 'user');
  ctx.webhooks?.emit('user.updated', userData(user), 'user');
  return code;
}

/** Creates a user for an email nobody has yet (sign-up or the free email field). */
export function createUser(ctx: EmulatorContext, email: string, given?: string, family?: string): User {
  const local = email.split('@')[0] ?? email;
  const firstOrg = ctx.directory.organizations[0];
  const user: User = {
    id: `kp_${randomBytes(16).toString('hex')}`,
    email,
    givenName: given?.trim() || local,
    familyName: family?.trim() || '',
    emailVerified: true,
    picture: null,
    updatedAt: ctx.clock.now(),
    organizations: firstOrg ? [{ orgCode: firstOrg.code, permissions: [], roles: [] }] : [],
  };
  ctx.directory.users.push(user);
  ctx.webhooks?.emit('user.created', userData(user), 'user');
  return user;
}

/**
 * Finishes a login: starts (or refreshes) the SSO session, issues a single-use code bound to the
 * request, and redirects to the client's callback with `code`, `scope` and the exact `state`.
 */
export function completeLogin(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  req: AuthRequest,
  user: User,
  orgCode: string | undefined,
  authTime: number,
): FastifyReply {
  if (orgCode && !findOrganization(ctx.directory, orgCode)) {
    throw new RedirectError('access_denied', `Unknown organization ${orgCode}`);
  }
  const sid = randomHandle();
  ctx.store.sessions.set(sid, { userId: user.id, authTime, orgCode }, SSO_TTL);
  ctx.webhooks?.emit('user.authenticated', { user: { id: user.id } }, 'user');
  const old = parseCookies(request.headers.cookie).get(SSO_COOKIE);
  if (old && old !== sid) ctx.store.sessions.delete(old);
  reply.header('set-cookie', ssoCookie(request, sid));
  const code = randomHandle();
  ctx.store.codes.set(
    code,
    {
      clientId: req.clientId,
      redirectUri: req.redirectUri,
      codeChallenge: req.codeChallenge,
      nonce: req.nonce,
      scope: req.scope,
      audience: req.audience,
      orgCode,
      userId: user.id,
      authTime,
      requestedAt: req.requestedAt,
      expiresAt: ctx.clock.now() + CODE_TTL,
      used: false,
    },
    // Kept past expiry so a replay can still be recognised and its tokens revoked.
    CODE_TTL + 600,
  );
  const target = withParams(req.redirectUri, { code, scope: req.scope.join(' '), state: req.state });
  return reply.code(302).header('location', target).send();
}

/** Redirects an error back to the client (`error`, `error_description`, `state`). */
export function redirectError(
  reply: FastifyReply,
  redirectUri: string,
  state: string | undefined,
  error: string,
  description: string,
): FastifyReply {
  const target = withParams(redirectUri, { error, error_description: description, state });
  return reply.code(302).header('location', target).send();
}
