import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext, FailureTarget } from '../context.js';
import type { EmulatorControl, TokenFailureOptions } from '../control.js';
import { findUser } from '../directory.js';
import { SSO_COOKIE, SSO_TTL, ssoCookie } from '../flow.js';
import { issuerOf, parseCookies } from '../http.js';
import { sendPage } from '../pages.js';
import { randomHandle } from '../store.js';
import { userData } from '../webhooks/events.js';
import type { Webhooks } from '../webhooks/hub.js';
import { families, type RequestFilter, requestsPage, sessionHandle, sessionsPage } from './activity-view.js';
import { directoryPage, textToFlags } from './directory-view.js';
import { dashboardGuard, newCsrfToken } from './guard.js';
import { dashboardLayout, type Flash } from './layout.js';
import { clockPage, webhooksPage } from './tools-view.js';

type Body = Record<string, unknown>;

/** One value of a form field; a repeated one is refused. */
function one(body: Body, name: string): string {
  const v = body[name];
  if (v === undefined) return '';
  if (typeof v !== 'string') throw new RangeError(`The "${name}" field must be given once.`);
  return v.trim();
}

function many(body: Body, name: string): string[] {
  const v = body[name];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list.filter((x): x is string => typeof x === 'string' && x !== '');
}

function optionalInt(body: Body, name: string): number | undefined {
  const v = one(body, name);
  if (v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw new RangeError(`"${name}" must be a whole number.`);
  return Number(v);
}

/** Everything the dashboard handlers share. */
interface Dashboard {
  ctx: EmulatorContext;
  control: EmulatorControl;
  hooks: Webhooks;
  csrf: string;
  flash: Flash | undefined;
}

function render(
  d: Dashboard,
  request: FastifyRequest,
  reply: FastifyReply,
  title: string,
  path: string,
  body: string,
  head = '',
) {
  const flash = d.flash;
  d.flash = undefined;
  return sendPage(reply, 200, dashboardLayout(title, path, issuerOf(d.ctx, request), body, flash, head));
}

/** Runs a form action, keeps its outcome for the next page, and redirects there (POST/redirect/GET). */
function act(
  d: Dashboard,
  back: string,
  action: (body: Body, request: FastifyRequest, reply: FastifyReply) => string,
) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      d.flash = { kind: 'notice', text: action((request.body ?? {}) as Body, request, reply) };
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      d.flash = { kind: 'error', text: err.message };
    }
    return reply.code(303).header('location', back).send();
  };
}

function saveMembership(d: Dashboard, userId: string, body: Body): string {
  const user = findUser(d.ctx.directory, userId);
  if (!user) throw new RangeError('That user no longer exists.');
  const orgCode = one(body, 'org');
  const membership = user.organizations.find((m) => m.orgCode === orgCode);
  if (!membership)
    throw new RangeError(`${user.email} is not a member of ${orgCode || 'that organization'}.`);
  const roles = many(body, 'roles');
  const unknown = roles.find((k) => !d.ctx.directory.roles.some((r) => r.key === k));
  if (unknown !== undefined) throw new RangeError(`No role has key "${unknown}".`);
  const permissions = [
    ...new Set(
      one(body, 'permissions')
        .split(/[\s,]+/)
        .filter(Boolean),
    ),
  ];
  const flags = textToFlags(one(body, 'flags'));
  membership.roles = roles;
  membership.permissions = permissions;
  if (Object.keys(flags).length) membership.featureFlags = flags;
  else delete membership.featureFlags;
  user.updatedAt = d.ctx.clock.now();
  d.hooks.emit('user.updated', userData(user), 'admin');
  return `Saved ${user.email} in ${orgCode}: new tokens carry the change.`;
}

function signInAs(d: Dashboard, userId: string, request: FastifyRequest, reply: FastifyReply): string {
  const user = findUser(d.ctx.directory, userId);
  if (!user) throw new RangeError('That user no longer exists.');
  const old = parseCookies(request.headers.cookie).get(SSO_COOKIE);
  if (old) d.ctx.store.sessions.delete(old);
  const sid = randomHandle();
  const orgCode = user.organizations[0]?.orgCode;
  d.ctx.store.sessions.set(sid, { userId: user.id, authTime: d.ctx.clock.now(), orgCode }, SSO_TTL);
  reply.header('set-cookie', ssoCookie(request, sid));
  return `This browser is signed in to the emulator as ${user.email}: the next sign-in from an app continues as them.`;
}

function pageRoutes(app: FastifyInstance, d: Dashboard): void {
  app.get('/', async (request, reply) =>
    render(
      d,
      request,
      reply,
      'Directory',
      '/',
      directoryPage(d.ctx.directory, issuerOf(d.ctx, request), d.csrf),
    ),
  );
  app.get('/dashboard/sessions', async (request, reply) =>
    render(d, request, reply, 'Sessions', '/dashboard/sessions', sessionsPage(d.ctx, d.csrf)),
  );
  app.get('/dashboard/requests', async (request, reply) => {
    const q = (request.query ?? {}) as Record<string, unknown>;
    const text = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
    const f: RequestFilter = {
      path: text('path'),
      method: text('method'),
      status: text('status'),
      live: q.live === '1',
    };
    const head = f.live ? '<meta http-equiv="refresh" content="3">' : '';
    return render(
      d,
      request,
      reply,
      'Requests',
      '/dashboard/requests',
      requestsPage(d.ctx.requests, f, d.csrf),
      head,
    );
  });
  app.get('/dashboard/webhooks', async (request, reply) =>
    render(d, request, reply, 'Webhooks', '/dashboard/webhooks', webhooksPage(d.ctx, d.hooks, d.csrf)),
  );
  app.get('/dashboard/clock', async (request, reply) =>
    render(d, request, reply, 'Clock & faults', '/dashboard/clock', clockPage(d.ctx, d.csrf)),
  );
  app.get('/dashboard', async (_request, reply) => reply.code(303).header('location', '/').send());
}

function directoryActions(app: FastifyInstance, d: Dashboard): void {
  app.post<{ Params: { id: string } }>('/dashboard/users/:id/membership', (request, reply) =>
    act(d, '/', (body) => saveMembership(d, request.params.id, body))(request, reply),
  );
  app.post<{ Params: { id: string } }>('/dashboard/users/:id/sign-in-as', (request, reply) =>
    act(d, '/', (_b, req, rep) => signInAs(d, request.params.id, req, rep))(request, reply),
  );
  app.post<{ Params: { handle: string } }>('/dashboard/sessions/:handle/revoke', (request, reply) =>
    act(d, '/dashboard/sessions', () => {
      const found = d.ctx.store.sessions.list().find((s) => sessionHandle(s.key) === request.params.handle);
      if (!found) throw new RangeError('That session has already ended.');
      d.ctx.store.sessions.delete(found.key);
      return 'Session revoked: the next sign-in shows the user picker.';
    })(request, reply),
  );
  app.post<{ Params: { id: string } }>('/dashboard/families/:id/revoke', (request, reply) =>
    act(d, '/dashboard/sessions', () => {
      if (!families(d.ctx).some((f) => f.familyId === request.params.id))
        throw new RangeError('Those refresh tokens have expired.');
      d.ctx.store.revokedFamilies.add(request.params.id);
      return 'Refresh-token family revoked: its refresh tokens now fail with invalid_grant.';
    })(request, reply),
  );
  app.post(
    '/dashboard/requests/clear',
    act(d, '/dashboard/requests', () => {
      d.ctx.requests.length = 0;
      return 'Request log cleared.';
    }),
  );
}

function toolActions(app: FastifyInstance, d: Dashboard): void {
  app.post(
    '/dashboard/clock',
    act(d, '/dashboard/clock', (body) => {
      const seconds = optionalInt(body, 'advanceSeconds');
      if (seconds === undefined) throw new RangeError('Enter a number of seconds.');
      d.control.advanceClock(seconds);
      return `Clock moved by ${seconds} s.`;
    }),
  );
  app.post(
    '/dashboard/clock/reset',
    act(d, '/dashboard/clock', () => {
      d.control.setClockOffset(0);
      return 'Clock back to real time.';
    }),
  );
  app.post(
    '/dashboard/faults',
    act(d, '/dashboard/clock', (body) => {
      const target = one(body, 'target') as FailureTarget;
      const options: TokenFailureOptions = { mode: one(body, 'mode') as 'down' | 'slow' };
      const delayMs = optionalInt(body, 'delayMs');
      const count = optionalInt(body, 'count');
      if (delayMs !== undefined) options.delayMs = delayMs;
      if (count !== undefined) options.count = count;
      d.control.failEndpoint(target, options);
      return `Failure injected into ${target}.`;
    }),
  );
  app.post(
    '/dashboard/faults/clear',
    act(d, '/dashboard/clock', () => {
      d.control.clearFailures();
      return 'All failures cleared.';
    }),
  );
  app.post(
    '/dashboard/webhooks',
    act(d, '/dashboard/webhooks', (body) => {
      const added = d.hooks.addEndpoint({ endpoint: one(body, 'endpoint'), events: many(body, 'events') });
      return `Endpoint added (${added.id}); it lasts until the emulator stops.`;
    }),
  );
  app.post(
    '/dashboard/webhooks/fire',
    act(d, '/dashboard/webhooks', (body) => {
      const user = one(body, 'user');
      const { event, deliveries } = d.hooks.emitFor(one(body, 'type'), user ? { user } : {}, 'admin');
      return `${event.type} fired (${event.event_id}) to ${deliveries.length} endpoint(s).`;
    }),
  );
  app.post<{ Params: { id: string } }>('/dashboard/deliveries/:id/replay', (request, reply) =>
    act(d, '/dashboard/webhooks', () => {
      const replay = d.hooks.replay(request.params.id);
      return `Replaying ${replay.event.type} to ${replay.endpoint}.`;
    })(request, reply),
  );
}

/**
 * Registers the dashboard: `/` (directory) and `/dashboard/{sessions,requests,webhooks,clock}`,
 * server-rendered, loopback callers only, every change an HTML form post with a CSRF token.
 */
export function dashboardRoutes(
  app: FastifyInstance,
  ctx: EmulatorContext,
  control: EmulatorControl,
  hooks: Webhooks,
): void {
  const d: Dashboard = { ctx, control, hooks, csrf: newCsrfToken(), flash: undefined };
  app.register(async (scope) => {
    dashboardGuard(scope, d.csrf);
    pageRoutes(scope, d);
    directoryActions(scope, d);
    toolActions(scope, d);
  });
}
