import type { FastifyInstance } from 'fastify';
import { createAccountApi } from './account-api.js';
import type { Clock } from './clock.js';
import { type BuiltInStore, type KindeOptions, type KindeRoutePaths, resolveConfig } from './config.js';
import type { KindeContext } from './context.js';
import { createDebugLog, installDebugLog } from './debug.js';
import { registerDiagnostics } from './diagnostics.js';
import {
  type GuardRequirement,
  requireAuth,
  requireEntitlement,
  requireFlag,
  requireKinde,
  requireOrg,
  requirePermission,
  requireRole,
} from './guards.js';
import { type CacheCounters, createHealth, type KindeHealth } from './health.js';
import { switchOrgUrl } from './login-params.js';
import { createOidcClient } from './oidc.js';
import { documentRoute, securitySchemes } from './openapi.js';
import { routeProtection } from './protect.js';
import { createRefresher } from './refresh.js';
import { credentialHook } from './request.js';
import { revokeSessionTokens } from './revocation.js';
import { enforceRouteOption, protectRoutes } from './route-option.js';
import { registerAuthRoutes } from './routes.js';
import { createSessionManager } from './session/manager.js';
import { memorySessionStore } from './session/memory.js';
import { postgresSessionStore } from './session/postgres.js';
import { redisSessionStore } from './session/redis.js';
import { createCookieSigner } from './session/signer.js';
import { sqliteSessionStore } from './session/sqlite.js';
import type { SessionStore } from './session/store.js';
import { createUserIndex, subject, type UserSessionInfo } from './session/user-index.js';
import {
  announceInstance,
  auditedRefresher,
  createAuditTrail,
  tracedOidc,
  tracedStore,
} from './telemetry.js';
import { holdTickShape } from './tick-shape.js';
import { createTokenVerifier } from './tokens.js';
import { registerWebhooks } from './webhooks.js';

/** `app.kinde`: the guards, bound to nothing, and a few facts about the configuration. */
export interface KindeInstance {
  requireAuth: typeof requireAuth;
  requirePermission: typeof requirePermission;
  requireRole: typeof requireRole;
  requireFlag: typeof requireFlag;
  requireOrg: typeof requireOrg;
  requireEntitlement: typeof requireEntitlement;
  requireKinde: typeof requireKinde;
  /** The session store in use. */
  readonly store: SessionStore;
  /** The issuer this app trusts. */
  readonly issuerUrl: string;
  /** The auth route paths. */
  readonly routes: Readonly<KindeRoutePaths>;
  /** Ends every session of the user `sub`, on every instance within the store's bound; answers how many ended. */
  revokeUser(sub: string): Promise<number>;
  /** The user's sessions: created, last seen, expiry, organization; no ids, no tokens. */
  sessionsOf(sub: string): Promise<UserSessionInfo[]>;
  /**
   * Provider reachable (probe cached `healthProbeTtl` seconds), JWKS age, store reachable, cache
   * stats: for the app's own health route. Holds no secret.
   */
  health(): Promise<KindeHealth>;
  /**
   * js-utils' `switchOrg`: the login route's URL that moves the signed-in user into organization
   * `orgCode` without a prompt (`org_code` + `prompt=none`), then lands on `returnTo`. Without a
   * session at Kinde the user lands on `returnTo` signed out. Redirect the browser to it.
   */
  switchOrgUrl(orgCode: string, options?: { returnTo?: string }): string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling: set by fastify-kinde on every request. */
    kinde: KindeContext;
  }
  interface FastifyInstance {
    kinde: KindeInstance;
  }
  interface FastifyContextConfig {
    /** Protect the route declaratively: `true` for any signed-in caller, or a requirement. */
    kinde?: boolean | GuardRequirement;
  }
}

function makeStore(kind: BuiltInStore, clock: Clock | undefined): SessionStore {
  const clocked = clock === undefined ? {} : { clock };
  if (kind.kind === 'redis') {
    const { url, prefix, localCacheEntries, localCacheMaxAgeMs } = kind;
    return redisSessionStore({
      url,
      prefix,
      localCache: localCacheEntries > 0 && { maxEntries: localCacheEntries, maxAgeMs: localCacheMaxAgeMs },
      ...clocked,
    });
  }
  if (kind.kind === 'postgres') {
    return postgresSessionStore({ connectionString: kind.connectionString, ...clocked });
  }
  return kind.kind === 'memory'
    ? memorySessionStore(clocked)
    : sqliteSessionStore({ path: kind.path, driver: kind.driver, ...clocked });
}

/** The plugin body; exported wrapped by fastify-plugin from index.ts. */
export async function kindePlugin(app: FastifyInstance, options: KindeOptions): Promise<void> {
  const config = resolveConfig(options);
  const releaseTickShape = holdTickShape();
  app.addHook('onClose', async () => releaseTickShape());
  const ownStore = !('get' in config.store);
  const store: SessionStore = 'get' in config.store ? config.store : makeStore(config.store, config.clock);
  const storeName = 'get' in config.store ? 'custom' : config.store.kind;
  const signer = createCookieSigner(config.sessionSecrets);
  const oidc = tracedOidc(createOidcClient(config));
  const verifier = createTokenVerifier(config, () => oidc.jwksUri(), { ...config.bearer, now: config.now });
  const audit = createAuditTrail({
    log: app.log,
    level: options.auditLogLevel ?? 'info',
    onAuthEvent: options.onAuthEvent,
  });
  const refresher = auditedRefresher(createRefresher({ oidc, verifier, now: config.now }), audit);
  // Debug mode: undefined when off, so each place that could explain something tests it once.
  const debug = config.debug ? createDebugLog(app.log) : undefined;
  if (debug !== undefined) {
    installDebugLog(app, debug);
    app.log.info('fastify-kinde: debug mode is on (KINDE_DEBUG_MODE): decisions are logged, never secrets');
  }
  const userIndex = createUserIndex(store, {
    sessionLifetimeMs: config.absoluteTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    now: config.now,
    ...(options.maxSessionsPerUser !== undefined && { maxSessionsPerUser: options.maxSessionsPerUser }),
    // Sessions ended by revokeUser, signOutEverywhere or a webhook end at the provider too, in the
    // background: a revocation never waits for the provider.
    onRevoked: (records) => {
      for (const record of records) void revokeSessionTokens(oidc, record);
    },
  });
  // Every revocation (revokeUser, signOutEverywhere, a webhook) is one audit event.
  const users = {
    ...userIndex,
    async revoke(sub: string, filter?: Parameters<typeof userIndex.revoke>[1]) {
      const ended = await userIndex.revoke(sub, filter);
      audit.emit({ type: 'session.revoked', userId: sub, sessions: ended });
      return ended;
    },
  };
  const sessions = createSessionManager({
    config,
    store: tracedStore(store, storeName),
    signer,
    refresher,
    fetchProfile: (accessToken) => oidc.userProfile(accessToken),
    users,
    now: config.now,
    onExpired: (record) =>
      audit.emit({
        type: 'session.expired',
        reason: record === undefined ? 'not_found' : 'absolute_timeout',
        userId: record?.user?.id ?? null,
      }),
  });
  const counters: CacheCounters = { bearerHits: 0, bearerMisses: 0 };
  announceInstance({
    issuerUrl: config.issuerUrl,
    stats: () => ({ bearerCache: { hits: counters.bearerHits, misses: counters.bearerMisses } }),
  });
  const health = createHealth({
    issuerUrl: config.issuerUrl,
    store,
    jwks: () => verifier.jwksState?.() ?? { fetchedAt: 0, keys: 0 },
    counters,
    providerTtlMs: (options.healthProbeTtl ?? 30) * 1000,
    now: config.now,
  });

  if (config.ephemeralSecret) {
    app.log.warn(
      'fastify-kinde: SESSION_SECRET is not set, so a random one is used for this process: sessions will ' +
        'not survive a restart, nor work across instances. Set SESSION_SECRET to 32 or more random characters',
    );
  }

  if (config.production && config.audience.length === 0) {
    // Not an error: Kinde's default tokens name no API. But a production API that takes bearer
    // tokens should name itself, or it accepts only this app's own tokens (README "Bearer tokens").
    app.log.warn(
      'fastify-kinde: KINDE_AUDIENCE is not set, so a bearer token is accepted only when this app itself (azp) ' +
        'got it for no API (aud: []); set KINDE_AUDIENCE to the audience of your API to accept tokens for it',
    );
  }

  app.decorateRequest('kinde', null as unknown as KindeContext);
  app.addHook(
    'onRequest',
    credentialHook({
      sessions,
      verifier,
      oidc,
      account: createAccountApi(config.issuerUrl),
      counters,
      onBearerRefused: (request, reason, detail) => {
        audit.emit({ type: 'bearer.refused', reason, detail }, request);
        debug?.explain(request, 'bearer', `the bearer token was refused: ${detail}`, { reason });
      },
      ...(debug !== undefined && { debug }),
    }),
  );

  if (config.protect) {
    const alwaysOpen = [
      ...Object.values(config.routes),
      ...(options.webhooks ? [options.webhooks.path] : []),
    ];
    const protection = routeProtection(config.protect, alwaysOpen);
    const watched = protectRoutes(app, protection.attach, (route) =>
      protection.guards(route.url, route.config),
    );
    // An instance made before this module was loaded was not watched: decide on each request instead.
    if (!watched) app.addHook('onRequest', protection.hook);
  }

  const permissions = new Set<string>();
  const documentLater: (() => void)[] = [];
  enforceRouteOption(app, (route) => {
    for (const permission of documentRoute(route, (document) => documentLater.push(document)))
      permissions.add(permission);
  });
  // Fastify compiled the routes' schemas at preReady: the guarded answers are only documented now (documentRoute).
  app.addHook('onReady', (done) => {
    for (const document of documentLater.splice(0)) document();
    done();
  });

  registerAuthRoutes(app, {
    config,
    oidc,
    sessions,
    verifier,
    securitySchemes: () => securitySchemes(config, sessions.cookieName, permissions),
    audit,
    ...(debug !== undefined && { debug }),
  });
  if (config.diagnostics) {
    if (config.production) {
      app.log.warn(
        `fastify-kinde: the diagnostics routes ${config.routes.health} and ${config.routes.setup} are on in production (KINDE_DIAGNOSTICS): they show configuration facts (never secrets) to anyone`,
      );
    }
    registerDiagnostics(app, { config, health, cookieName: sessions.cookieName, storeName });
  }

  app.decorate('kinde', {
    requireAuth,
    requirePermission,
    requireRole,
    requireFlag,
    requireOrg,
    requireEntitlement,
    requireKinde,
    store,
    issuerUrl: config.issuerUrl,
    routes: { ...config.routes },
    revokeUser: async (sub) => users.revoke(subject(sub)),
    sessionsOf: async (sub) => users.list(subject(sub)),
    health,
    switchOrgUrl: (orgCode, switchOptions) => switchOrgUrl(config.routes.login, orgCode, switchOptions),
  } satisfies KindeInstance);
  if (options.webhooks) {
    registerWebhooks(app, options.webhooks, {
      issuerUrl: config.issuerUrl,
      jwksUri: () => oidc.jwksUri(),
      store,
      users,
      now: config.now,
    });
  }

  // Discovery is warmed shortly after start, off the start-up path: the first request is answered
  // sooner, and a login that comes first simply discovers on its own.
  let warmTimer: NodeJS.Timeout | undefined;
  app.addHook('onReady', (done) => {
    warmTimer = setTimeout(() => {
      oidc.warm().catch((error: unknown) => {
        app.log.warn(
          { code: (error as { code?: string }).code },
          'fastify-kinde: the identity provider is not reachable yet; logins will retry',
        );
      });
    }, 200);
    warmTimer.unref();
    done();
  });
  app.addHook('onClose', (_instance, closed) => {
    clearTimeout(warmTimer);
    closed();
  });
  if (ownStore) app.addHook('onClose', async () => store.close?.());

  if (config.closeIdleConnections) closeIdleWhileClosing(app);
}

/**
 * The app's choice (`closeIdleConnections`): close() lets in-flight requests finish, but a keep-alive
 * connection that goes idle after close began would hold it for the keep-alive timeout (72 s); reap
 * those too.
 */
function closeIdleWhileClosing(app: FastifyInstance): void {
  let reaper: NodeJS.Timeout | undefined;
  app.addHook('preClose', (done) => {
    reaper = setInterval(() => app.server.closeIdleConnections?.(), 50);
    reaper.unref();
    done();
  });
  app.addHook('onClose', (_instance, closed) => {
    clearInterval(reaper);
    closed();
  });
}
