import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { findApplication, findUser } from '../directory.js';
import {
  chooseOrg,
  completeLogin,
  createOrgFor,
  currentSession,
  PageError,
  RedirectError,
  redirectError,
  TRANSACTION_TTL,
} from '../flow.js';
import { asParams, isAllowedRedirect, OAuthError, type Params, param, paramList } from '../http.js';
import { ExtraParamError, parseLoginExtras, resumeToken } from '../login-extras.js';
import { loginPage, sendPage } from '../pages.js';
import { type AuthRequest, randomHandle } from '../store.js';
import type { Application } from '../types.js';

const DEFAULT_SCOPE = ['openid', 'profile', 'email', 'offline'];
const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** Validates client_id and redirect_uri; failures are never redirected. */
function resolveClient(ctx: EmulatorContext, q: Params): { app: Application; redirectUri: string } {
  let clientId: string | undefined;
  let redirectUri: string | undefined;
  try {
    clientId = param(q, 'client_id');
    redirectUri = param(q, 'redirect_uri');
  } catch (err) {
    throw new PageError(400, 'Invalid request', (err as Error).message);
  }
  if (!clientId) throw new PageError(400, 'Invalid request', 'The "client_id" parameter is missing.');
  const app = findApplication(ctx.directory, clientId);
  if (!app) throw new PageError(400, 'Unknown application', `No application has client_id "${clientId}".`);
  if (!redirectUri) throw new PageError(400, 'Invalid request', 'The "redirect_uri" parameter is missing.');
  if (!isAllowedRedirect(app, redirectUri)) {
    throw new PageError(
      400,
      'Callback URL not allowed',
      `"${redirectUri}" is not an allowed callback URL of ${app.name}. Add it to the application's redirectUris.`,
    );
  }
  return { app, redirectUri };
}

/** Parses the rest of the request; errors here are redirected back to the (valid) redirect_uri. */
function parseAuthRequest(
  ctx: EmulatorContext,
  q: Params,
  app: Application,
  redirectUri: string,
  state: string | undefined,
): AuthRequest {
  const responseType = param(q, 'response_type');
  if (responseType !== 'code') {
    throw new RedirectError('unsupported_response_type', 'Only response_type=code is supported');
  }
  if (!app.grants.includes('authorization_code')) {
    throw new RedirectError(
      'unauthorized_client',
      'This application may not use the authorization code flow',
    );
  }
  const challenge = param(q, 'code_challenge');
  const method = param(q, 'code_challenge_method');
  if (challenge !== undefined || method !== undefined) {
    if (method !== 'S256') throw new RedirectError('invalid_request', 'code_challenge_method must be S256');
    if (!challenge || !PKCE_CHALLENGE.test(challenge)) {
      throw new RedirectError('invalid_request', 'code_challenge must be 43 base64url characters');
    }
  }
  const prompt = paramList(q, 'prompt');
  let extras: Record<string, string>;
  try {
    extras = parseLoginExtras(q);
  } catch (err) {
    if (err instanceof ExtraParamError) throw new RedirectError('invalid_request', err.message);
    throw err;
  }
  // An invitation link opens sign-up, as Kinde's does.
  const register =
    prompt.includes('create') || param(q, 'start_page') === 'registration' || extras.is_invitation === 'true';
  const scope = paramList(q, 'scope');
  return {
    clientId: app.clientId,
    redirectUri,
    state,
    scope: scope.length > 0 ? scope : [...DEFAULT_SCOPE],
    audience: paramList(q, 'audience'),
    nonce: param(q, 'nonce'),
    codeChallenge: challenge,
    orgCode: param(q, 'org_code'),
    isCreateOrg: param(q, 'is_create_org') === 'true',
    orgName: param(q, 'org_name'),
    loginHint: param(q, 'login_hint'),
    lang: param(q, 'lang'),
    prompt,
    mode: register ? 'register' : 'login',
    extras,
    requestedAt: ctx.clock.now(),
  };
}

function stateOf(q: Params): string | undefined {
  const s = q.state;
  return typeof s === 'string' ? s : undefined;
}

/** Shows the picker, or finishes at once (SSO session, prompt=none, headless login_hint). */
function handleAuthorize(
  ctx: EmulatorContext,
  request: FastifyRequest,
  reply: FastifyReply,
  req: AuthRequest,
  appName: string,
): FastifyReply {
  const sso = currentSession(ctx, request);
  const forceLogin = req.prompt.includes('login') || req.mode === 'register';
  if (req.prompt.includes('none')) {
    if (!sso || forceLogin) throw new RedirectError('login_required', 'User authentication is required');
  }
  let user = sso && !forceLogin ? findUser(ctx.directory, sso.userId) : undefined;
  let authTime = sso?.authTime ?? ctx.clock.now();
  if (!user && ctx.headlessLogin && req.loginHint) {
    user = findUser(ctx.directory, req.loginHint.replace(/^email:/, ''));
    authTime = ctx.clock.now();
  }
  if (user) {
    let org = req.isCreateOrg ? createOrgFor(ctx, req, user) : chooseOrg(req, user, sso?.orgCode);
    if (org === 'pick') org = user.organizations[0]?.orgCode;
    return completeLogin(ctx, request, reply, req, user, org, authTime);
  }
  const txn = randomHandle();
  ctx.store.transactions.set(txn, req, TRANSACTION_TTL);
  const resume = resumeToken(req);
  const connection = req.extras?.connection_id;
  const model = {
    txn,
    appName,
    users: ctx.directory.users,
    mode: req.mode,
    lang: req.lang ?? 'en',
    ...(resume === undefined ? {} : { resume }),
    ...(connection === undefined ? {} : { connection }),
  };
  const hinted = req.loginHint ? { email: req.loginHint.replace(/^email:/, '') } : {};
  return sendPage(reply, 200, loginPage({ ...model, ...hinted }));
}

/** Registers `GET /oauth2/auth`. */
export function authorizeRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.get('/oauth2/auth', async (request, reply) => {
    const q = asParams(request.query);
    const { app: client, redirectUri } = resolveClient(ctx, q);
    const state = stateOf(q);
    try {
      const req = parseAuthRequest(ctx, q, client, redirectUri, state);
      return handleAuthorize(ctx, request, reply, req, client.name);
    } catch (err) {
      if (err instanceof RedirectError)
        return redirectError(reply, redirectUri, state, err.error, err.message);
      if (err instanceof OAuthError) return redirectError(reply, redirectUri, state, err.error, err.message);
      throw err;
    }
  });
}
