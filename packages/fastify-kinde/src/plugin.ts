import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { type KindeOptions, resolveConfig } from './config.js';
import { anonymousContext, type KindeContext, sessionContext, unavailableContext } from './context.js';
import { KindeAuthError } from './errors.js';
import { type GuardRequirement, guard, type KindeGuard, requireAuth, requirePermission } from './guards.js';
import { createOidcClient } from './oidc.js';
import { registerAuthRoutes } from './routes.js';
import { createSessionManager, type LoadedSession } from './session/manager.js';
import { memorySessionStore } from './session/memory.js';
import { createCookieSigner } from './session/signer.js';
import type { MaybePromise } from './session/store.js';
import { createTokenVerifier } from './tokens.js';

/** `app.kinde`: the guards, bound to nothing, and a few facts about the configuration. */
export interface KindeInstance {
  requireAuth: typeof requireAuth;
  requirePermission: typeof requirePermission;
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

/** The plugin body; exported wrapped by fastify-plugin from index.ts. */
export async function kindePlugin(app: FastifyInstance, options: KindeOptions): Promise<void> {
  const config = resolveConfig(options);
  if (!app.hasRequestDecorator('cookies')) await app.register(fastifyCookie);
  const ownStore = options.sessionStore === undefined;
  const store = options.sessionStore ?? memorySessionStore();
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
    } else {
      request.kinde = sessionContext(loaded.id, loaded.record);
    }
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
    const check: KindeGuard = guard(declared === true ? {} : declared);
    const existing = route.onRequest;
    route.onRequest =
      existing === undefined ? [check] : [check, ...(Array.isArray(existing) ? existing : [existing])];
  });

  registerAuthRoutes(app, { config, oidc, sessions, store, signer, verifier });

  app.decorate('kinde', {
    requireAuth,
    requirePermission,
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
