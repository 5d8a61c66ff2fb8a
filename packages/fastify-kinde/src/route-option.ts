import { channel } from 'node:diagnostics_channel';
import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { KindeAuthError } from './errors.js';
import { type GuardRequirement, type KindeGuard, requireKinde } from './guards.js';

// `config: { kinde }` must never fail open. Fastify runs an `onRoute` hook only for routes declared
// after it was added, and a plugin context copies its parent's hooks when it is created, so the
// plugin's own hooks cannot see a route declared before `app.register(fastifyKinde)`. So this module
// watches every Fastify instance from its creation (Fastify publishes it on the
// `fastify.initialization` diagnostics channel), guards each route that declares `config.kinde`
// the moment it is declared, and refuses to start an app where a declared route is out of reach
// of the plugin's credential hook (it would answer 500, or nothing would read its credentials).

/** Set on a route's config once its guard is attached, so no route gets two. */
const GUARDED: unique symbol = Symbol('fastify-kinde.guarded');
/** The ledger of a root instance; children see it through their prototype chain. */
const LEDGER: unique symbol = Symbol('fastify-kinde.ledger');

interface DeclaredRoute {
  /** The route options object, as `onRoute` hooks see it. */
  route: RouteOptions;
  /** The instance (plugin context) the route was declared on. */
  instance: FastifyInstance;
}

interface Ledger {
  routes: DeclaredRoute[];
  /** Every route declared on the app, for the `protect` option. */
  all: DeclaredRoute[];
  /** Route options objects whose requests run the plugin's credential hook. */
  covered: WeakSet<RouteOptions>;
}

type Marked = { [GUARDED]?: true; kinde?: unknown };

/** The requirement a route declares, or undefined; throws for a malformed one. */
function declaredRequirement(route: RouteOptions): GuardRequirement | undefined {
  const declared = (route.config as Marked | undefined)?.kinde;
  if (declared === undefined || declared === false) return undefined;
  if (declared === true) return {};
  if (typeof declared !== 'object' || declared === null || Array.isArray(declared)) {
    throw new KindeAuthError(
      'ERR_CONFIG',
      `route ${describe(route)}: config.kinde must be true or a requirement object`,
    );
  }
  return declared as GuardRequirement;
}

function describe(route: RouteOptions): string {
  return `${[route.method].flat().join(',')} ${route.url}`;
}

/**
 * Puts the guard of a route's `config.kinde` first in its `onRequest` hooks, once. Answers true
 * when the route declares a requirement.
 */
export function guardDeclaredRoute(route: RouteOptions): boolean {
  const requirement = declaredRequirement(route);
  if (requirement === undefined) return false;
  const config = route.config as Marked;
  if (config[GUARDED]) return true;
  let check: KindeGuard;
  try {
    check = requireKinde(requirement);
  } catch (error) {
    throw new KindeAuthError(
      'ERR_CONFIG',
      `route ${describe(route)}: config.kinde: ${(error as Error).message}`,
    );
  }
  const existing = route.onRequest;
  route.onRequest =
    existing === undefined ? [check] : [check, ...(Array.isArray(existing) ? existing : [existing])];
  // A copy, so a config object shared by several routes is not marked for all of them.
  route.config = { ...route.config, [GUARDED]: true } as RouteOptions['config'];
  return true;
}

function refuseUncovered(ledger: Ledger): void {
  const open = ledger.routes.filter((d) => !ledger.covered.has(d.route)).map((d) => describe(d.route));
  if (open.length === 0) return;
  throw new KindeAuthError(
    'ERR_CONFIG',
    `config.kinde cannot be enforced on route ${[...new Set(open)].join(', ')}: fastify-kinde does not ` +
      'read the credentials of its requests. Register fastify-kinde before the plugin that declares ' +
      'the route, in the same or a parent context',
  );
}

function watch(app: FastifyInstance): void {
  const ledger: Ledger = { routes: [], all: [], covered: new WeakSet() };
  Object.defineProperty(app, LEDGER, { value: ledger });
  app.addHook('onRoute', function (this: FastifyInstance, route) {
    if (guardDeclaredRoute(route)) ledger.routes.push({ route, instance: this });
    ledger.all.push({ route, instance: this });
  });
  app.addHook('onReady', (done) => {
    try {
      refuseUncovered(ledger);
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  });
}

channel('fastify.initialization').subscribe((message) => {
  const app = (message as { fastify?: FastifyInstance }).fastify;
  if (app !== undefined) watch(app);
});

/**
 * Enforces `config.kinde` on every route the plugin's credential hook runs for, whatever the
 * order of declaration. Call it from the plugin, on the instance its hooks were added to.
 */
export function enforceRouteOption(app: FastifyInstance, onRoute: (route: RouteOptions) => void): void {
  const ledger = (app as unknown as { [LEDGER]?: Ledger })[LEDGER];
  // Routes already declared on this very instance run its hooks, whenever those were added.
  if (ledger !== undefined) {
    for (const d of ledger.all) if (d.instance === app) ledger.covered.add(d.route);
  }
  app.addHook('onRoute', (route) => {
    guardDeclaredRoute(route);
    ledger?.covered.add(route);
    onRoute(route);
  });
  // An instance made before this module was loaded was not watched: check each request instead.
  if (ledger === undefined) app.addHook('onRequest', lateGuard);
}

const lateGuards = new WeakMap<object, KindeGuard>();

/** The guard of a route declared before the plugin on an unwatched instance. */
function lateGuard(request: FastifyRequest, reply: Parameters<KindeGuard>[1], done: () => void): void {
  const config = request.routeOptions.config as Marked;
  if (config.kinde === undefined || config.kinde === false || config[GUARDED]) {
    done();
    return;
  }
  let guard = lateGuards.get(config);
  if (guard === undefined) {
    guard = requireKinde(declaredRequirement({ config } as RouteOptions) ?? {});
    lateGuards.set(config, guard);
  }
  guard(request, reply, done);
}

/**
 * For the `protect` option: `attach(route)` is called once for every route whose requests run the
 * plugin's hooks (declared before the plugin on its instance, or after it), in time for Fastify to
 * take the route's hooks (they are read when the app gets ready). A route out of that reach, which
 * `guards(route)` says needs the guard, stops the start. Answers false when this instance was not
 * watched from its creation: the caller must then decide per request.
 */
export function protectRoutes(
  app: FastifyInstance,
  attach: (route: RouteOptions) => void,
  guards: (route: RouteOptions) => boolean,
): boolean {
  const ledger = (app as unknown as { [LEDGER]?: Ledger })[LEDGER];
  if (ledger === undefined) return false;
  for (const d of ledger.all) if (d.instance === app) attach(d.route);
  app.addHook('onRoute', attach);
  app.addHook('onReady', (done) => {
    const open = ledger.all
      .filter((d) => !ledger.covered.has(d.route) && d.instance !== app && guards(d.route))
      .map((d) => describe(d.route));
    if (open.length === 0) {
      done();
      return;
    }
    done(
      new KindeAuthError(
        'ERR_CONFIG',
        `"protect" cannot guard route ${[...new Set(open)].join(', ')}: fastify-kinde's hooks do not run for it. ` +
          'Register fastify-kinde before the plugin that declares the route, in the same or a parent context',
      ),
    );
  });
  return true;
}
