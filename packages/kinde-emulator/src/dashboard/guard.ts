import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { fromLoopback } from '../exposure.js';
import { errorPage, sendPage } from '../pages.js';

/** True for the dashboard's paths: `/` and `/dashboard/...`. */
export function isDashboardPath(url: string): boolean {
  return /^\/(\?|$)|^\/dashboard(\/|\?|$)/.test(url);
}

function sameToken(given: unknown, token: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Why a state-changing dashboard request is refused, or undefined. The Host header was already
 * checked (DNS rebinding, see exposure.ts); a page on another origin can still POST a form to
 * 127.0.0.1, so the form must carry this emulator's token (which such a page cannot read) and,
 * when the browser says where the form came from, that must be this origin.
 */
export function csrfProblem(request: FastifyRequest, token: string): string | undefined {
  const type = request.headers['content-type'] ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) return 'Dashboard actions are HTML form posts.';
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== `${request.protocol}://${request.headers.host}`) {
    return 'This form was posted from another site.';
  }
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return 'This form was posted from another site.';
  const body = request.body as Record<string, unknown> | undefined;
  if (!sameToken(body?.csrf, token))
    return 'The form is out of date or forged: reload the page and try again.';
  return undefined;
}

/** A fresh CSRF token for one emulator's dashboard. */
export function newCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Refuses non-loopback callers (the dashboard can sign in as anyone) and forged form posts. */
export function dashboardGuard(app: FastifyInstance, token: string): void {
  app.addHook('onRequest', async (request, reply) => {
    if (!fromLoopback(request)) {
      return sendPage(reply, 403, errorPage('Forbidden', 'The dashboard answers loopback callers only.'));
    }
  });
  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'POST') return;
    const problem = csrfProblem(request, token);
    if (problem) return sendPage(reply, 403, errorPage('Request refused', problem));
  });
}
