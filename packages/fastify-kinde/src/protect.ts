import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import type { KindeProtectOptions } from './config.js';
import { KindeAuthError } from './errors.js';
import { type KindeGuard, requireKinde } from './guards.js';

function fail(message: string): never {
  throw new KindeAuthError('ERR_CONFIG', message);
}

/** The app-wide guard's settings, validated by `resolveConfig`. */
export interface ProtectSettings {
  publicPaths: readonly string[];
  redirect: boolean;
}

/** A public path: `/x/y`, `/items/:id`, or a folder `/static/*`; nothing a router would read otherwise. */
const PUBLIC_PATH = /^\/(?:[A-Za-z0-9._~:@!$&'()+,;=-]+\/)*(?:[A-Za-z0-9._~:@!$&'()+,;=-]+|\*)?$/;

/** Validates the `protect` option: `ERR_CONFIG` naming the entry for anything that is not a route path. */
export function resolveProtect(protect: KindeProtectOptions | undefined): ProtectSettings | undefined {
  if (protect === undefined) return undefined;
  if (typeof protect !== 'object' || protect === null)
    fail('"protect" must be an object: { publicPaths, redirect }');
  const paths = protect.publicPaths ?? [];
  if (!Array.isArray(paths))
    fail('"protect.publicPaths" must be a list of paths such as "/", "/health" or "/static/*"');
  for (const path of paths) {
    const segments = typeof path === 'string' ? path.split('/') : [];
    if (
      typeof path !== 'string' ||
      !PUBLIC_PATH.test(path) ||
      segments.some((s) => s === '.' || s === '..') ||
      (path !== '/' && path.endsWith('/'))
    ) {
      fail(
        `"protect.publicPaths": "${String(path)}" is not a route path; give a path as routes declare it ("/health", "/items/:id") or a folder ending in "/*" ("/static/*"), without a trailing slash, dot segments, "%" escapes or a query`,
      );
    }
  }
  if (protect.redirect !== undefined && typeof protect.redirect !== 'boolean')
    fail('"protect.redirect" must be true or false');
  return { publicPaths: [...paths], redirect: protect.redirect ?? true };
}

/**
 * Whether a route, by the path it was declared with, is open to anyone: an exact public path, or
 * one under a public folder (`/static/*` opens `/static`, `/static/*`, `/static/:file`, `/static/a/b`).
 * Matching is on the declared route, so whatever a request's path says (`/public/../private`,
 * `%2e%2e`, a trailing slash, another case), the route that answers it decides.
 *
 * @example
 * ```ts
 * isPublicRoute('/static/:file', ['/static/*']); // true
 * isPublicRoute('/staticky', ['/static/*']); // false
 * ```
 */
export function isPublicRoute(url: string, publicPaths: readonly string[]): boolean {
  for (const path of publicPaths) {
    if (path.endsWith('/*')) {
      const folder = path.slice(0, -1);
      if (url.startsWith(folder) || url === path.slice(0, -2)) return true;
    } else if (url === path) return true;
  }
  return false;
}

/** The `protect` option at work: which routes it guards, and the guard. */
export interface RouteProtection {
  /** Whether the route declared at `url` with `config` needs the guard. */
  guards(url: unknown, config: unknown): boolean;
  /** Puts the guard first in a route's `onRequest` hooks when it needs it (once). */
  attach(route: RouteOptions): void;
  /** The per-request form, for an instance that was not watched from its creation. */
  hook(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void;
}

/**
 * The `protect` option: every route not public needs a signed-in caller (`requireAuth`, with
 * `redirect` for pages). Open without asking: the auth routes (`alwaysOpen`) and routes whose
 * `config.kinde` is `false`; a route with a `config.kinde` requirement keeps its own guard. The
 * guard is attached to each route when it is declared, so public routes cost nothing per request.
 *
 * @example
 * ```ts
 * const protection = routeProtection({ publicPaths: ['/'], redirect: true }, ['/api/auth/login']);
 * app.addHook('onRoute', protection.attach);
 * ```
 */
export function routeProtection(settings: ProtectSettings, alwaysOpen: readonly string[]): RouteProtection {
  const guard: KindeGuard = requireKinde({ redirect: settings.redirect });
  const open = new Set(alwaysOpen);
  function guards(url: unknown, config: unknown): boolean {
    const kinde = (config as { kinde?: unknown } | undefined)?.kinde;
    if (kinde !== undefined) return false;
    return typeof url !== 'string' || (!open.has(url) && !isPublicRoute(url, settings.publicPaths));
  }
  // One decision per route for the per-request form: a route's config object is shared by its requests.
  const decided = new WeakMap<object, boolean>();
  return {
    guards,
    attach(route) {
      if (!guards(route.url, route.config)) return;
      const existing = route.onRequest;
      const hooks = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
      // A HEAD route made from a GET one arrives with the GET's hooks, the guard among them.
      if (hooks.includes(guard)) return;
      route.onRequest = [guard, ...hooks];
    },
    hook(request, reply, done) {
      const config = request.routeOptions.config as object | undefined;
      let guarded = config === undefined ? true : decided.get(config);
      if (guarded === undefined && config !== undefined) {
        guarded = guards((config as { url?: unknown }).url, config);
        decided.set(config, guarded);
      }
      if (guarded) guard(request, reply, done);
      else done();
    },
  };
}
