import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { type KindeGuard, requireKinde } from './guards.js';

/** The app-wide guard's settings, validated by `resolveConfig`. */
export interface ProtectSettings {
  publicPaths: readonly string[];
  redirect: boolean;
}

/**
 * Whether a route, by the path it was declared with, is open to anyone: an exact public path, or
 * one under a public folder (`/static/*` opens `/static/*`, `/static/:file`, `/static/a/b`).
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

/**
 * The `onRequest` hook of the `protect` option: every route not public needs a signed-in caller
 * (`requireAuth`, with `redirect` for pages). Open without asking: the auth routes (`alwaysOpen`),
 * routes whose `config.kinde` is `false`; a route with a `config.kinde` requirement keeps its own
 * guard. A request that matched no route (the 404 handler) is guarded too: fail closed.
 *
 * @example
 * ```ts
 * app.addHook('onRequest', protectHook({ publicPaths: ['/'], redirect: true }, ['/api/auth/login']));
 * ```
 */
export function protectHook(settings: ProtectSettings, alwaysOpen: readonly string[]) {
  const guard: KindeGuard = requireKinde({ redirect: settings.redirect });
  const open = new Set(alwaysOpen);
  // One decision per route: the route's config object is the same for all its requests.
  const decided = new WeakMap<object, boolean>();
  function guarded(config: { url?: unknown; kinde?: unknown } | undefined): boolean {
    if (config === undefined || config === null) return true;
    let result = decided.get(config);
    if (result === undefined) {
      result = guards(config.url, config);
      decided.set(config, result);
    }
    return result;
  }
  /** Whether the route declared at `url` with `config` is guarded by this option. */
  function guards(url: unknown, config: unknown): boolean {
    const kinde = (config as { kinde?: unknown } | undefined)?.kinde;
    if (kinde !== undefined) return false;
    return typeof url !== 'string' || (!open.has(url) && !isPublicRoute(url, settings.publicPaths));
  }
  return Object.assign(
    function protect(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
      if (!guarded(request.routeOptions.config as { url?: unknown; kinde?: unknown })) {
        done();
        return;
      }
      guard(request, reply, done);
    },
    { guards },
  );
}
