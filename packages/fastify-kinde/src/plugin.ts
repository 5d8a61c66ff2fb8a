import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { type KindeOptions, resolveConfig } from './config.js';
import { anonymousContext, callerContext, type KindeContext, unavailableContext } from './context.js';
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
import { registerAuthRoutes } from './routes.js';
import { createSessionManager, type LoadedSession, type SessionManager } from './session/manager.js';
import { memorySessionStore } from './session/memory.js';
import type { KindeUserProfile } from './session/record.js';
import { createCookieSigner } from './session/signer.js';
import { sqliteSessionStore } from './session/sqlite.js';
import type { MaybePromise, SessionStore } from './session/store.js';
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

function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

function makeStore(kind: { kind: 'sqlite'; path: string } | { kind: 'memory' }): SessionStore {
  return kind.kind === 'memory' ? memorySessionStore() : sqliteSessionStore({ path: kind.path });
}

/** The context of a browser session: claims from the stored record, the profile fetched on demand. */
function sessionCaller(sessions: SessionManager, { id, record }: LoadedSession): KindeContext {
  let profile: Promise<KindeUserProfile> | undefined;
  return callerContext({
    kind: 'user',
    via: 'session',
    sessionId: id,
    user: record.user,
    accessToken: record.accessToken,
    accessClaims: record.accessClaims,
    idToken: record.idToken,
    idClaims: record.idClaims,
    loadProfile: () => (profile ??= sessions.profile(id, record)),
  });
}

/** The plugin body; exported wrapped by fastify-plugin from index.ts. */
export async function kindePlugin(app: FastifyInstance, options: KindeOptions): Promise<void> {
  const config = resolveConfig(options);
  if (!app.hasRequestDecorator('cookies')) await app.register(fastifyCookie);
  const ownStore = !('get' in config.store);
  const store: SessionStore = 'get' in config.store ? config.store : makeStore(config.store);
  const signer = createCookieSigner(config.sessionSecrets);
  const oidc = createOidcClient(config);
  const verifier = createTokenVerifier(config, () => oidc.jwksUri());
  const sessions = createSessionManager({ config, store, signer, oidc, verifier });

  if (config.ephemeralSecret) {
    app.log.warn(
      'SESSION_SECRET is not set: a random one is used, so sessions end when the process restarts',
    );
  }

  const attach = (request: FastifyRequest, reply: FastifyReply, loaded: LoadedSession | undefined) => {
    if (loaded === undefined) {
      request.kinde = anonymousContext();
      reply.clearCookie(sessions.cookieName, sessions.cookieOptions());
      return;
    }
    request.kinde = sessionCaller(sessions, loaded);
    if (loaded.rotated) sessions.setCookie(reply, loaded.id);
  };

  const failed = (request: FastifyRequest, error: unknown) => {
    const providerDown = error instanceof KindeAuthError && error.code === 'ERR_PROVIDER_UNAVAILABLE';
    request.log.warn(
      { code: (error as { code?: string }).code },
      providerDown
        ? 'fastify-kinde: the session could not be refreshed, the provider is unreachable'
        : 'fastify-kinde: the session store failed',
    );
    request.kinde = providerDown ? anonymousContext() : unavailableContext();
  };

  app.decorateRequest('kinde', null as unknown as KindeContext);
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const signed = request.cookies[sessions.cookieName];
    if (signed === undefined) {
      request.kinde = anonymousContext();
      return done();
    }
    let loaded: MaybePromise<LoadedSession | undefined>;
    try {
      loaded = sessions.load(signed);
    } catch (error) {
      failed(request, error);
      return done();
    }
    if (!isPromise(loaded)) {
      attach(request, reply, loaded);
      return done();
    }
    loaded.then(
      (value) => {
        attach(request, reply, value);
        done();
      },
      (error: unknown) => {
        failed(request, error);
        done();
      },
    );
  });

  app.addHook('onRoute', (route) => {
    const declared = route.config?.kinde;
    if (declared === undefined || declared === false) return;
    if (declared !== true && (typeof declared !== 'object' || declared === null || Array.isArray(declared))) {
      throw new KindeAuthError(
        'ERR_CONFIG',
        `route ${route.method} ${route.url}: config.kinde must be true or a requirement object`,
      );
    }
    const check: KindeGuard = requireKinde(declared === true ? {} : declared);
    const existing = route.onRequest;
    route.onRequest =
      existing === undefined ? [check] : [check, ...(Array.isArray(existing) ? existing : [existing])];
  });

  registerAuthRoutes(app, { config, oidc, sessions, store, signer, verifier });

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

  app.addHook('onReady', (done) => {
    oidc.warm().catch((error: unknown) => {
      app.log.warn(
        { code: (error as { code?: string }).code },
        'fastify-kinde: the identity provider is not reachable yet; logins will retry',
      );
    });
    done();
  });
  if (ownStore) app.addHook('onClose', async () => store.close?.());
}
