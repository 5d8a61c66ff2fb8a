import type { FastifyInstance, FastifyReply } from 'fastify';
import type { EmulatorContext } from '../context.js';
import { findApplication, fullName } from '../directory.js';
import { asParams, isAllowedLogout, isAllowedRedirect, issuerOf, param } from '../http.js';
import { escapeHtml, layout, sendPage } from '../pages.js';
import { randomHandle } from '../store.js';
import { bearerUser } from './profile.js';

/** Kinde's portal sections: js-utils `PortalPage` (0.32), what `subnav` may name. */
export const PORTAL_PAGES = [
  'organization_details',
  'organization_members',
  'organization_plan_details',
  'organization_payment_details',
  'organization_plan_selection',
  'payment_details',
  'plan_selection',
  'plan_details',
  'profile',
] as const;

const TITLES: Record<(typeof PORTAL_PAGES)[number], string> = {
  organization_details: 'Organization details',
  organization_members: 'Organization members',
  organization_plan_details: 'Organization plan',
  organization_payment_details: 'Organization payment details',
  organization_plan_selection: 'Choose an organization plan',
  payment_details: 'Payment details',
  plan_selection: 'Choose a plan',
  plan_details: 'Plan details',
  profile: 'Profile',
};

/** How long a portal link can be opened (seconds): Kinde's links are short-lived. */
const LINK_TTL = 300;

function badRequest(reply: FastifyReply, message: string): FastifyReply {
  return reply
    .code(400)
    .header('cache-control', 'no-store')
    .send({ errors: [{ code: 'INVALID_REQUEST', message }] });
}

/**
 * Registers `GET /account_api/v1/portal_link` (Bearer; `subnav` and `return_url` as js-utils'
 * `generatePortalUrl` sends them) and the `/portal` page its link opens. The return URL must be one
 * the token's application allows as a callback or logout URL.
 */
export function portalRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  app.get('/account_api/v1/portal_link', async (request, reply) => {
    const found = await bearerUser(ctx, request, reply);
    if (!found) return reply;
    const query = asParams(request.query);
    let subNav: string | undefined;
    let returnUrl: string | undefined;
    try {
      subNav = param(query, 'subnav') ?? 'profile';
      returnUrl = param(query, 'return_url');
    } catch (error) {
      return badRequest(reply, (error as Error).message);
    }
    if (!(PORTAL_PAGES as readonly string[]).includes(subNav)) {
      return badRequest(reply, `subnav must be one of ${PORTAL_PAGES.join(', ')}; got "${subNav}"`);
    }
    if (returnUrl !== undefined) {
      const application = found.clientId ? findApplication(ctx.directory, found.clientId) : undefined;
      const allowed =
        application !== undefined &&
        (isAllowedRedirect(application, returnUrl) || isAllowedLogout(application, returnUrl));
      if (!allowed) {
        return badRequest(
          reply,
          `return_url "${returnUrl}" is not an allowed callback or logout URL of the application`,
        );
      }
    }
    const handle = randomHandle(24);
    ctx.store.portalLinks.set(
      handle,
      { userId: found.user.id, clientId: found.clientId, subNav, returnUrl },
      LINK_TTL,
    );
    const url = new URL('/portal', `${issuerOf(ctx, request)}/`);
    url.searchParams.set('link', handle);
    return reply.header('cache-control', 'no-store').send({ url: url.href });
  });

  app.get('/portal', async (request, reply) => {
    let handle: string | undefined;
    try {
      handle = param(asParams(request.query), 'link');
    } catch {
      handle = undefined;
    }
    const link = handle ? ctx.store.portalLinks.get(handle) : undefined;
    const user = link ? ctx.directory.users.find((u) => u.id === link.userId) : undefined;
    if (!link || !user) {
      return sendPage(
        reply,
        404,
        layout(
          'Account portal',
          '<h1>Portal link invalid or expired</h1><p>Open the portal from your application again.</p>',
        ),
      );
    }
    const title = TITLES[link.subNav as keyof typeof TITLES] ?? link.subNav;
    const back = link.returnUrl
      ? `<p><a id="return" href="${escapeHtml(link.returnUrl)}">Return to the application</a></p>`
      : '';
    const body =
      `<h1>Account portal</h1><h2 id="section" data-subnav="${escapeHtml(link.subNav)}">${escapeHtml(title)}</h2>` +
      `<p>Signed in as ${escapeHtml(fullName(user))} (${escapeHtml(user.email)}).</p>` +
      '<p class="note">The emulator shows which portal section was asked for; edit the directory to change what it holds.</p>' +
      back;
    return sendPage(reply, 200, layout('Account portal', body));
  });
}
