import { setTimeout as sleep } from 'node:timers/promises';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { EmulatorContext, FailureTarget } from './context.js';
import { isDashboardPath } from './dashboard/guard.js';
import { redactParams, registerHostCheck } from './exposure.js';
import { PageError } from './flow.js';
import { OAuthError, sendOAuthError } from './http.js';
import { errorPage, sendPage } from './pages.js';
import { corsOriginAllowed } from './refresh-cookie.js';
import { accountRoutes } from './routes/account.js';
import { authorizeRoutes } from './routes/authorize.js';
import { discoveryRoutes } from './routes/discovery.js';
import { introspectionRoutes } from './routes/introspect.js';
import { loginRoutes } from './routes/login.js';
import { logoutRoutes } from './routes/logout.js';
import { managementRoutes } from './routes/management/index.js';
import { profileRoutes } from './routes/profile.js';
import { tokenRoutes } from './routes/token.js';
import type { RequestLogEntry } from './types.js';

const MAX_LOG = 10_000;
const BROWSER_PATHS = /^\/(oauth2\/auth|logout)(\/|\?|$)/;
const CORS_PATHS =
  /^\/(oauth2\/(token|revoke|introspect|v2\/user_profile|user_profile|userinfo)|\.well-known\/|account_api\/)/;

declare module 'fastify' {
  interface FastifyRequest {
    emulatorLog?: RequestLogEntry;
  }
}

function pathOf(request: FastifyRequest): string {
  const q = request.url.indexOf('?');
  return q < 0 ? request.url : request.url.slice(0, q);
}

function registerLog(app: FastifyInstance, ctx: EmulatorContext): void {
  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/_emulator/') || isDashboardPath(request.url)) return;
    const entry: RequestLogEntry = { method: request.method, path: pathOf(request), time: Date.now() };
    const query = request.query as Record<string, unknown> | undefined;
    // Codes, tokens (id_token_hint) and secrets are recorded as [redacted]: the log is served over HTTP.
    if (query && Object.keys(query).length > 0) entry.query = redactParams(query);
    request.emulatorLog = entry;
    ctx.requests.push(entry);
    if (ctx.requests.length > MAX_LOG) ctx.requests.splice(0, ctx.requests.length - MAX_LOG);
  });
  app.addHook('preHandler', async (request) => {
    const body = request.body as Record<string, unknown> | undefined;
    if (request.emulatorLog && body && typeof body.grant_type === 'string') {
      request.emulatorLog.grantType = body.grant_type;
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    if (request.emulatorLog) request.emulatorLog.status = reply.statusCode;
  });
}

const FAILURE_TARGETS: [RegExp, FailureTarget][] = [
  [/^\/oauth2\/token$/, 'token'],
  [/^\/\.well-known\/jwks(\.json)?$/, 'jwks'],
  [/^\/oauth2\/(v2\/user_profile|user_profile|userinfo)$/, 'user_profile'],
  [/^\/\.well-known\/openid-configuration$/, 'discovery'],
  [/^\/account_api\/v1\//, 'account_api'],
];

/** Applies failures injected by tests: a delay, then (for `down`) a 503 in the protocol's shape. */
function registerFailures(app: FastifyInstance, ctx: EmulatorContext): void {
  app.addHook('onRequest', async (request, reply) => {
    const path = pathOf(request);
    const target = FAILURE_TARGETS.find(([re]) => re.test(path))?.[1];
    const failure = target ? ctx.failures[target] : undefined;
    if (!target || !failure) return;
    if (failure.remaining !== undefined && --failure.remaining <= 0) delete ctx.failures[target];
    if (failure.delayMs > 0) await sleep(failure.delayMs);
    if (failure.mode === 'down') {
      await sendOAuthError(
        reply,
        new OAuthError('temporarily_unavailable', `Injected failure: ${target} down`, 503),
      );
    }
  });
}

/** CORS for the machine endpoints, for browser apps on loopback origins or an application's own origins. */
function registerCors(app: FastifyInstance, ctx: EmulatorContext): void {
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (!origin || !CORS_PATHS.test(pathOf(request)) || !corsOriginAllowed(ctx, origin)) return;
    reply
      .header('access-control-allow-origin', origin)
      .header('vary', 'Origin')
      .header('access-control-allow-credentials', 'true');
    if (request.method === 'OPTIONS') {
      reply
        .header('access-control-allow-methods', 'GET, POST, OPTIONS')
        .header('access-control-allow-headers', 'authorization, content-type, kinde-sdk, x-requested-with')
        .header('access-control-max-age', '600');
      await reply.code(204).send();
    }
  });
}

function registerErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
    if (err instanceof OAuthError) return sendOAuthError(reply, err);
    if (err instanceof PageError) return sendPage(reply, err.status, errorPage(err.title, err.message));
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) request.log.error({ err: { name: err.name, stack: err.stack } }, 'emulator error');
    const message = status === 500 ? 'Internal error in the emulator' : err.message;
    if (BROWSER_PATHS.test(request.url)) return sendPage(reply, status, errorPage('Request failed', message));
    const error = status === 500 ? 'server_error' : 'invalid_request';
    return sendOAuthError(reply, new OAuthError(error, message, status));
  });
  app.setNotFoundHandler((request, reply) => {
    const message = `No route ${request.method} ${pathOf(request)}`;
    if (BROWSER_PATHS.test(request.url)) return sendPage(reply, 404, errorPage('Not found', message));
    return reply.code(404).send({ error: 'not_found', error_description: message });
  });
}

/** Where and how much the emulator logs (pino). */
export interface EmulatorLogOptions {
  /** pino level; default `info`. */
  level?: string;
  /** Destination; default stdout. */
  stream?: { write(message: string): void };
}

function loggerOptions(logger: boolean | EmulatorLogOptions) {
  if (!logger) return false;
  const opts = logger === true ? {} : logger;
  return {
    level: opts.level ?? 'info',
    ...(opts.stream ? { stream: opts.stream } : {}),
    // Never log query strings or headers: they can carry tokens (id_token_hint), codes or cookies.
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, path: req.url.split('?')[0] }),
    },
  };
}

/** Builds the provider's Fastify app around a context (not listening yet). */
export async function buildApp(
  ctx: EmulatorContext,
  logger: boolean | EmulatorLogOptions,
  https?: { key: string | Buffer; cert: string | Buffer },
): Promise<FastifyInstance> {
  const app = Fastify({
    ...(https ? { https } : {}),
    logger: loggerOptions(logger),
    forceCloseConnections: true,
    // Malformed URLs (bad percent-encoding) get the protocol's error shape too.
    frameworkErrors: (err, _request, reply) => {
      (reply as FastifyReply).code(400).send({ error: 'invalid_request', error_description: err.message });
    },
  }) as unknown as FastifyInstance;
  await app.register(formbody);
  registerLog(app, ctx);
  registerHostCheck(app, ctx);
  registerCors(app, ctx);
  registerFailures(app, ctx);
  registerErrors(app);
  discoveryRoutes(app, ctx);
  authorizeRoutes(app, ctx);
  loginRoutes(app, ctx);
  tokenRoutes(app, ctx);
  profileRoutes(app, ctx);
  logoutRoutes(app, ctx);
  introspectionRoutes(app, ctx);
  accountRoutes(app, ctx);
  await app.register(managementRoutes(ctx), { prefix: '/api/v1' });
  return app;
}
