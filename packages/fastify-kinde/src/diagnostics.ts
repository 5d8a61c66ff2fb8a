import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import type { KindeConfig } from './config.js';
import type { KindeHealth } from './health.js';

/** Kinde's TypeScript SDK `validateClientSecret`: 40 to 60 letters and digits. */
const KINDE_SECRET = /^[a-zA-Z0-9]{40,60}$/;

/** What the diagnostics routes read: the configuration and the operators' probe (`app.kinde.health()`). */
export interface DiagnosticsDeps {
  config: KindeConfig;
  health: () => Promise<KindeHealth>;
  /** The session cookie's name and the store's kind (names, not values). */
  cookieName: string;
  storeName: string;
}

/** One check of `/api/auth/setup`. */
export interface SetupCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** The client secret, as Kinde's Next.js health route reports it: never the value. */
function clientSecretState(secret: string | undefined): string {
  if (secret === undefined) return 'Not set (public client: PKCE only)';
  return KINDE_SECRET.test(secret) ? 'Set correctly' : 'Not set correctly';
}

function callbackUrl(config: KindeConfig): string {
  return new URL(config.routes.callback, config.siteUrl).href;
}

/** The configuration with every secret replaced by what can be said of it. */
function redactedConfig(config: KindeConfig, deps: DiagnosticsDeps) {
  return {
    issuerUrl: config.issuerUrl,
    clientId: config.clientId,
    clientSecret: clientSecretState(config.clientSecret),
    siteUrl: config.siteUrl.origin,
    callbackUrl: callbackUrl(config),
    postLoginRedirectUrl: config.postLoginRedirectUrl,
    postLogoutRedirectUrl: config.postLogoutRedirectUrl,
    audience: config.audience,
    scope: config.scope,
    sessionSecret: config.ephemeralSecret
      ? 'Not set: a random secret for this process'
      : `Set (${config.sessionSecrets.length} secret${config.sessionSecrets.length === 1 ? '' : 's'})`,
    sessionStore: deps.storeName,
    sessionCookie: { name: deps.cookieName, secure: config.secureCookies },
    idleTimeoutSeconds: config.idleTimeoutMs / 1000,
    absoluteTimeoutSeconds: config.absoluteTimeoutMs / 1000,
    routes: config.routes,
    production: config.production,
    debug: config.debug,
    bearer: {
      maxAgeSeconds: config.bearer.maxAgeMs / 1000,
      clockToleranceSeconds: config.bearer.clockToleranceSeconds,
      clients: config.bearer.clients,
    },
  };
}

function setupChecks(config: KindeConfig, health: KindeHealth): SetupCheck[] {
  const secret = config.clientSecret;
  return [
    {
      name: 'provider',
      ok: health.provider.ok,
      detail: health.provider.ok
        ? `${config.issuerUrl}/.well-known/openid-configuration answered`
        : `${config.issuerUrl} could not be reached (${health.provider.error ?? 'error'}): check KINDE_ISSUER_URL`,
    },
    {
      name: 'sessionStore',
      ok: health.store.ok,
      detail: health.store.ok
        ? 'the session store answered'
        : `the session store failed (${health.store.error})`,
    },
    {
      name: 'clientSecret',
      ok: secret === undefined || KINDE_SECRET.test(secret),
      detail:
        secret === undefined
          ? 'no client secret: the app is a public client (PKCE only)'
          : KINDE_SECRET.test(secret)
            ? 'the client secret has the shape of a Kinde secret'
            : 'KINDE_CLIENT_SECRET does not look like a Kinde client secret (40 to 60 letters and digits)',
    },
    {
      name: 'sessionSecret',
      ok: !config.ephemeralSecret,
      detail: config.ephemeralSecret
        ? 'SESSION_SECRET is not set: sessions end at restart and are not shared between instances'
        : 'SESSION_SECRET is set',
    },
    {
      name: 'callbackUrl',
      ok: true,
      detail: `add ${callbackUrl(config)} to the Allowed callback URLs of the Kinde application, and ${config.postLogoutRedirectUrl} to its Allowed logout redirect URLs`,
    },
    {
      name: 'https',
      ok: config.secureCookies || !config.production,
      detail: config.secureCookies
        ? 'the site is served over https: session cookies are Secure and __Host-'
        : 'the site is served over http: fine for development, refused in production',
    },
    {
      name: 'audience',
      ok: config.audience.length > 0 || !config.production,
      detail:
        config.audience.length > 0
          ? `access tokens must carry the audience ${config.audience.join(', ')}`
          : 'KINDE_AUDIENCE is not set: bearer tokens are accepted only when this app got them for no API',
    },
  ];
}

const env = (config: KindeConfig) => ({
  clientId: config.clientId,
  issuerUrl: config.issuerUrl,
  redirectUrl: config.siteUrl.origin,
});

/** What `/api/auth/setup` says of a signed-in caller: Kinde's names, decoded values, never a token. */
function caller(request: FastifyRequest) {
  const kinde = request.kinde;
  return {
    user: kinde.getUser(),
    permissions: kinde.getPermissions(),
    organization: kinde.getOrganization(),
    userOrganizations: kinde.getUserOrganizations(),
    roles: kinde.getRoles(),
    featureFlags: kinde.getClaimValue('feature_flags') ?? null,
    via: kinde.via,
  };
}

function docs(summary: string, description: string): FastifySchema {
  return { tags: ['auth'], summary, description } as FastifySchema;
}

/**
 * Registers Kinde's diagnostics routes (opt-in: `diagnostics: true` or `KINDE_DIAGNOSTICS=true`):
 * `GET /api/auth/health` (is the app configured and are its provider and store reachable; 200 or
 * 503) and `GET /api/auth/setup` (the configuration with secrets redacted, checks, and the signed-in
 * caller). Neither ever shows a secret, a token or a cookie value.
 *
 * @example
 * ```ts
 * await app.register(fastifyKinde, { diagnostics: true });
 * // curl http://127.0.0.1:8000/api/auth/setup
 * ```
 */
export function registerDiagnostics(app: FastifyInstance, deps: DiagnosticsDeps): void {
  const { config } = deps;
  const send = (reply: FastifyReply, status: number, body: unknown) =>
    reply.code(status).header('cache-control', 'no-store').send(body);

  app.get(
    config.routes.health,
    {
      schema: docs(
        'Kinde health',
        "Kinde's `health` route: the configuration in brief and whether the provider and the session store answer (503 when not).",
      ),
    },
    async (_request, reply) => {
      const health = await deps.health();
      return send(reply, health.status === 'ok' ? 200 : 503, {
        status: health.status,
        // Kinde's Next.js names, then the operators' probe (README "Operating it").
        apiPath: config.routes.login.replace(/\/[^/]*$/, ''),
        redirectURL: callbackUrl(config),
        postLoginRedirectURL: config.postLoginRedirectUrl,
        issuerURL: config.issuerUrl,
        clientID: config.clientId,
        clientSecret: clientSecretState(config.clientSecret),
        postLogoutRedirectURL: config.postLogoutRedirectUrl,
        logoutRedirectURL: config.postLogoutRedirectUrl,
        audience: config.audience,
        provider: health.provider,
        jwks: health.jwks,
        store: health.store,
      });
    },
  );

  app.get(
    config.routes.setup,
    {
      schema: docs(
        'Kinde setup',
        "Kinde's `setup` route: the configuration with secrets redacted, checks, and the signed-in caller (401 `NOT_LOGGED_IN` without one). No token is shown.",
      ),
    },
    async (request, reply) => {
      const health = await deps.health();
      const body = {
        env: env(config),
        config: redactedConfig(config, deps),
        checks: setupChecks(config, health),
      };
      if (request.kinde.unavailable) return send(reply, 503, { message: 'SESSION_UNAVAILABLE', ...body });
      if (!request.kinde.isAuthenticated()) return send(reply, 401, { message: 'NOT_LOGGED_IN', ...body });
      return send(reply, 200, { message: 'OK', ...caller(request), ...body });
    },
  );
}
