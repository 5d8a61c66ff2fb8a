import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import { type BuiltInStore, type KindeOptions, resolveConfig } from './config.js';
import type { KindeContext } from './context.js';
import { KindeAuthError } from './errors.js';
import {
  type GuardRequirement,
  type KindeGuard,
  requireAuth,
  requireFlag,
  requireKinde,
  requireOrg,
  requirePermission,
  requireRole,
} from './guards.js';
import { createOidcClient } from './oidc.js';
import { documentRoute, securitySchemes } from './openapi.js';
import { credentialHook } from './request.js';
import { registerAuthRoutes } from './routes.js';
import { createSessionManager } from './session/manager.js';
import { memorySessionStore } from './session/memory.js';
import { postgresSessionStore } from './session/postgres.js';
import { redisSessionStore } from './session/redis.js';
import { createCookieSigner } from './session/signer.js';
import { sqliteSessionStore } from './session/sqlite.js';
import type { SessionStore } from './session/store.js';
import { createTokenVerifier } from './tokens.js';

/** `app.kinde`: the guards, bound to nothing, and a few facts about the configuration. */
export interface KindeInstance {
  requireAuth: typeof requireAuth;
  requirePermission: typeof requirePermission;
  requireRole: typeof requireRole;
  requireFlag: typeof requireFlag;
  requireOrg: typeof requireOrg;
  requireKinde: typeof requireKinde;
  /** The session store in use. */
  readonly store: SessionStore;
  /** The issuer this app trusts. */
  readonly issuerUrl: string;
  /** The auth route paths. */
  readonly routes: Readonly<Record<'login' | 'register' | 'createOrg' | 'callback' | 'logout', string>>;
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

function makeStore(kind: BuiltInStore): SessionStore {
  if (kind.kind === 'redis') {
    const { url, prefix, localCacheEntries } = kind;
    return redisSessionStore({
      url,
      prefix,
      localCache: localCacheEntries > 0 && { maxEntries: localCacheEntries },
    });
  }
  if (kind.kind === 'postgres') return postgresSessionStore({ connectionString: kind.connectionString });
  return kind.kind === 'memory' ? memorySessionStore() : sqliteSessionStore({ path: kind.path });
}

/** The plugin body; exported wrapped by fastify-plugin from index.ts. */
export async function kindePlugin(app: FastifyInstance, options: KindeOptions): Promise<void> {
  const config = resolveConfig(options);
  if (!app.hasRequestDecorator('cookies')) await app.register(fastifyCookie);
  const ownStore = !('get' in config.store);
  const store: SessionStore = 'get' in config.store ? config.store : makeStore(config.store);
  const signer = createCookieSigner(config.sessionSecrets);
  const oidc = createOidcClient(config);
  const verifier = createTokenVerifier(config, () => oidc.jwksUri(), config.bearer);
  const sessions = createSessionManager({ config, store, signer, oidc, verifier });

  if (config.ephemeralSecret) {
    app.log.warn(
      'SESSION_SECRET is not set: a random one is used, so sessions end when the process restarts',
    );
  }

  app.decorateRequest('kinde', null as unknown as KindeContext);
  app.addHook('onRequest', credentialHook({ sessions, verifier, oidc }));

  const permissions = new Set<string>();
  app.addHook('onRoute', (route) => {
    const declared = route.config?.kinde;
    if (declared !== undefined && declared !== false) {
      if (
        declared !== true &&
        (typeof declared !== 'object' || declared === null || Array.isArray(declared))
      ) {
        throw new KindeAuthError(
          'ERR_CONFIG',
          `route ${route.method} ${route.url}: config.kinde must be true or a requirement object`,
        );
      }
      const check: KindeGuard = requireKinde(declared === true ? {} : declared);
      const existing = route.onRequest;
      route.onRequest =
        existing === undefined ? [check] : [check, ...(Array.isArray(existing) ? existing : [existing])];
    }
    for (const permission of documentRoute(route)) permissions.add(permission);
  });

  registerAuthRoutes(app, {
    config,
    oidc,
    sessions,
    store,
    signer,
    verifier,
    securitySchemes: () => securitySchemes(config, sessions.cookieName, permissions),
  });

  app.decorate('kinde', {
    requireAuth,
    requirePermission,
    requireRole,
    requireFlag,
    requireOrg,
    requireKinde,
    store,
    issuerUrl: config.issuerUrl,
    routes: { ...config.routes },
  } satisfies KindeInstance);

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

  // Graceful shutdown: close() lets in-flight requests finish, but a keep-alive connection that
  // goes idle after close began would hold it for the keep-alive timeout (72 s); reap those too.
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
