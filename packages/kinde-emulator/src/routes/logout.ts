import type { FastifyInstance } from 'fastify';
import { decodeJwt } from 'jose';
import type { EmulatorContext } from '../context.js';
import { findApplication } from '../directory.js';
import { endSession, PageError } from '../flow.js';
import { asParams, isAllowedLogout, param } from '../http.js';
import { sendPage, signedOutPage } from '../pages.js';
import { endCookieRefresh } from '../refresh-cookie.js';

/** The client an `id_token_hint` was issued to; it only narrows which URLs are allowed. */
function clientOfHint(hint: string | undefined): string | undefined {
  if (!hint) return undefined;
  try {
    const azp = decodeJwt(hint).azp;
    return typeof azp === 'string' ? azp : undefined;
  } catch {
    throw new PageError(400, 'Invalid logout request', 'id_token_hint is not a JWT.');
  }
}

/**
 * Registers `GET /logout`: ends the SSO session, then redirects to `redirect` (or the OIDC
 * `post_logout_redirect_uri` / `redirect_uri`) only when an application allows that URL.
 */
export function logoutRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.get('/logout', async (request, reply) => {
    const q = asParams(request.query);
    let target: string | undefined;
    let clientId: string | undefined;
    try {
      target = param(q, 'redirect') ?? param(q, 'post_logout_redirect_uri') ?? param(q, 'redirect_uri');
      clientId = param(q, 'client_id') ?? clientOfHint(param(q, 'id_token_hint'));
    } catch (err) {
      throw new PageError(400, 'Invalid logout request', (err as Error).message);
    }
    const candidates = clientId
      ? [findApplication(ctx.directory, clientId)].filter((a) => a !== undefined)
      : ctx.directory.applications;
    if (target !== undefined && !candidates.some((a) => isAllowedLogout(a, target))) {
      throw new PageError(
        400,
        'Logout URL not allowed',
        `"${target}" is not an allowed logout redirect URL. Add it to the application's logoutUris.`,
      );
    }
    endCookieRefresh(ctx, request, reply);
    endSession(ctx, request, reply);
    if (target === undefined) return sendPage(reply, 200, signedOutPage());
    const state = typeof q.state === 'string' && !q.redirect ? q.state : undefined;
    const url = new URL(target);
    if (state !== undefined) url.searchParams.set('state', state);
    return reply.code(302).header('location', url.toString()).send();
  });
}
