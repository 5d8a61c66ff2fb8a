import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { KindeAuthError } from './errors.js';

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element and attribute content. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** A plain, self-contained error page: a title, a message and an optional list of likely causes. */
export function errorPage(title: string, message: string, causes: readonly string[] = []): string {
  const list = causes.length
    ? `<h2>Likely causes</h2><ul>${causes.map((c) => `<li>${escapeHtml(c)}</li>`).join('')}</ul>`
    : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style></head>
<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${list}</main></body></html>`;
}

/** What a page about a missing login cookie lists: the causes users actually meet. */
const STATE_CAUSES = [
  'The login started on one host name and came back on another (for example localhost and 127.0.0.1): cookies are kept per host. Use the same host as KINDE_SITE_URL.',
  'The site runs over http while its cookies are marked Secure (KINDE_SITE_URL starts with https): the browser does not send them back.',
  'The browser blocked the login cookie (SameSite or third-party cookie settings), or the login took more than 10 minutes.',
  'More than 5 logins were started in this browser at once (only the newest 5 are kept), or this callback URL was opened twice.',
  'A proxy or load balancer in front of the app rewrote the host or stripped cookies.',
];

/**
 * The error handler of the auth routes: a plain HTML page (or JSON when only JSON is accepted), the
 * error's own status, and for a missing login cookie the likely causes. Unknown errors say nothing
 * of themselves and are logged.
 */
export function renderError(
  error: FastifyError | KindeAuthError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const status = error.statusCode ?? 500;
  const known = error instanceof KindeAuthError || error.validation !== undefined;
  if (!known || status >= 500) request.log.error({ err: error }, 'fastify-kinde auth route failed');
  const message = known ? error.message : 'The login could not be completed.';
  const causes = error instanceof KindeAuthError && error.code === 'ERR_STATE_MISSING' ? STATE_CAUSES : [];
  reply.code(known ? status : 500).header('cache-control', 'no-store');
  if (request.headers.accept?.includes('application/json') && !request.headers.accept.includes('text/html')) {
    return reply.send({ detail: message, ...(error instanceof KindeAuthError ? { code: error.code } : {}) });
  }
  const title =
    status === 503
      ? 'Sign-in is unavailable'
      : status === 502
        ? 'The identity provider failed'
        : status === 403
          ? 'Not allowed'
          : 'Sign-in failed';
  return reply.type('text/html; charset=utf-8').send(errorPage(title, message, causes));
}

/** A page that asks before signing out, with a button that posts to `action` (same origin). */
export function confirmSignOutPage(action: string, site: string): string {
  const form = `<form method="post" action="${escapeHtml(action)}"><button type="submit">Sign out</button></form>`;
  const body = `<p>A page outside ${escapeHtml(site)} asked to sign you out. Sign out now?</p>${form}`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Sign out?</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style></head>
<body><main><h1>Sign out?</h1>${body}</main></body></html>`;
}
