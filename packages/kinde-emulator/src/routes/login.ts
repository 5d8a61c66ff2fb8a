import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { findApplication, findUser } from '../directory.js';
import {
  chooseOrg,
  completeLogin,
  createOrgFor,
  createUser,
  PageError,
  RedirectError,
  redirectError,
  TRANSACTION_TTL,
} from '../flow.js';
import { asParams, type Params, param } from '../http.js';
import { expiredLoginTarget, resumeToken } from '../login-extras.js';
import { loginPage, orgPickerPage, sendPage } from '../pages.js';
import type { AuthRequest } from '../store.js';
import type { User } from '../types.js';
import { EMAIL_PATTERN } from '../validate.js';

function field(body: Params, name: string): string | undefined {
  try {
    return param(body, name);
  } catch {
    throw new PageError(400, 'Invalid request', `The "${name}" field must be given once.`);
  }
}

function loadTransaction(ctx: EmulatorContext, body: Params): { txn: string; req: AuthRequest } {
  const txn = field(body, 'txn');
  const req = txn ? ctx.store.transactions.get(txn) : undefined;
  if (!txn || !req) {
    throw new PageError(
      400,
      'Sign-in expired',
      'This sign-in attempt is unknown or has expired. Go back to the application and sign in again.',
    );
  }
  return { txn, req };
}

function appName(ctx: EmulatorContext, req: AuthRequest): string {
  return findApplication(ctx.directory, req.clientId)?.name ?? req.clientId;
}

/** Re-renders the login page with an error (400). */
function retry(
  ctx: EmulatorContext,
  reply: FastifyReply,
  txn: string,
  req: AuthRequest,
  error: string,
  email?: string,
) {
  const resume = resumeToken(req);
  const model = {
    txn,
    appName: appName(ctx, req),
    users: ctx.directory.users,
    mode: req.mode,
    error,
    ...(resume === undefined ? {} : { resume }),
  };
  return sendPage(reply, 400, loginPage({ ...model, lang: req.lang ?? 'en', ...(email ? { email } : {}) }));
}

/** The user a login form names: a picked user id, or an email (created when unknown). */
function pickedUser(ctx: EmulatorContext, body: Params): User | string {
  const userId = field(body, 'user_id');
  if (userId) return findUser(ctx.directory, userId) ?? 'That user no longer exists. Pick another one.';
  const email = field(body, 'email')?.trim();
  if (!email) return 'Pick a user or enter an email address.';
  if (email.length > 254 || !EMAIL_PATTERN.test(email))
    return 'Enter a valid email address, like name@example.test.';
  return (
    findUser(ctx.directory, email) ??
    createUser(ctx, email, field(body, 'given_name'), field(body, 'family_name'))
  );
}

function finish(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  txn: string,
  req: AuthRequest,
  user: User,
): FastifyReply {
  const authTime = req.authTime ?? ctx.clock.now();
  try {
    const org = req.isCreateOrg ? createOrgFor(ctx, req, user) : chooseOrg(req, user);
    if (org === 'pick') {
      ctx.store.transactions.set(txn, { ...req, userId: user.id, authTime }, TRANSACTION_TTL);
      const orgs = ctx.directory.organizations.filter((o) =>
        user.organizations.some((m) => m.orgCode === o.code),
      );
      return sendPage(reply, 200, orgPickerPage(txn, user, orgs, req.lang));
    }
    ctx.store.transactions.delete(txn);
    return completeLogin(ctx, request, reply, req, user, org, authTime);
  } catch (err) {
    if (!(err instanceof RedirectError)) throw err;
    ctx.store.transactions.delete(txn);
    return redirectError(reply, req.redirectUri, req.state, err.error, err.message);
  }
}

/** Registers the login form (`POST /oauth2/auth/login`) and organization picker (`POST /oauth2/auth/org`). */
export function loginRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.post('/oauth2/auth/login', async (request, reply) => {
    const body = asParams(request.body);
    if (!ctx.store.transactions.get(field(body, 'txn') ?? '')) {
      // Kinde sends an expired sign-in of an app that supports it back to restart (`reauth_state`).
      const target = expiredLoginTarget(ctx.directory, field(body, 'resume'));
      if (target !== undefined) return reply.code(302).header('location', target).send();
    }
    const { txn, req } = loadTransaction(ctx, body);
    const user = pickedUser(ctx, body);
    if (typeof user === 'string') return retry(ctx, reply, txn, req, user, field(body, 'email'));
    return finish(ctx, request, reply, txn, req, user);
  });

  app.post('/oauth2/auth/org', async (request, reply) => {
    const body = asParams(request.body);
    const { txn, req } = loadTransaction(ctx, body);
    const user = req.userId ? findUser(ctx.directory, req.userId) : undefined;
    if (!user) throw new PageError(400, 'Invalid request', 'Pick a user before choosing an organization.');
    const orgCode = field(body, 'org_code');
    if (!orgCode || !user.organizations.some((m) => m.orgCode === orgCode)) {
      throw new PageError(400, 'Invalid organization', `${user.email} is not a member of that organization.`);
    }
    return finish(ctx, request, reply, txn, { ...req, orgCode }, user);
  });
}
