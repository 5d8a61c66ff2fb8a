import { type Clock, nowOf } from './clock.js';
import { resolveCookieDomain } from './cookie-domain.js';
import { KindeAuthError } from './errors.js';
import { type ProtectSettings, resolveProtect } from './protect.js';
import { compileAllowList } from './return-to.js';
import { randomId } from './session/record.js';
import { type SqliteDriverName, sqliteDriver } from './session/sqlite-driver.js';
import type { SessionStore } from './session/store.js';
import type { AuthEvent } from './telemetry.js';
import type { KindeWebhookOptions } from './webhooks.js';

/** Paths of the auth routes; each may be changed. */
export interface KindeRoutePaths {
  login: string;
  register: string;
  createOrg: string;
  callback: string;
  logout: string;
  /** The self-serve portal redirect (Kinde's `portal` route). */
  portal: string;
  /** The diagnostics routes (Kinde's `health` and `setup`), registered only with `diagnostics`. */
  health: string;
  setup: string;
}

/**
 * Options of the fastify-kinde plugin. Every option falls back to its environment variable.
 *
 * @example
 * ```ts
 * await app.register(fastifyKinde, {
 *   issuerUrl: 'https://acme.kinde.com',
 *   clientId: process.env.KINDE_CLIENT_ID,
 *   clientSecret: process.env.KINDE_CLIENT_SECRET,
 *   siteUrl: 'http://127.0.0.1:8000',
 *   sessionSecret: process.env.SESSION_SECRET,
 * });
 * ```
 */
export interface KindeOptions {
  /** `KINDE_ISSUER_URL`: your Kinde domain, e.g. `https://acme.kinde.com`. */
  issuerUrl?: string;
  /** `KINDE_CLIENT_ID`. */
  clientId?: string;
  /** `KINDE_CLIENT_SECRET`; omit for a public client (PKCE only). */
  clientSecret?: string;
  /** `KINDE_SITE_URL`: the public origin of this app, e.g. `http://127.0.0.1:8000`. */
  siteUrl?: string;
  /** `KINDE_POST_LOGIN_REDIRECT_URL`: where a login without `returnTo` lands. Default `/`. */
  postLoginRedirectUrl?: string;
  /** `KINDE_POST_LOGOUT_REDIRECT_URL`: where the provider sends the browser after logout. Default the site URL. */
  postLogoutRedirectUrl?: string;
  /**
   * `KINDE_POST_LOGIN_ALLOWED_URL_REGEX` (the Next.js SDK's name): absolute URLs of other origins a
   * login's `post_login_redirect_url`/`returnTo` may name. Matched against the whole normalised URL
   * (anchored). Without it only paths of this site are kept.
   */
  postLoginAllowedUrlRegex?: string;
  /**
   * `KINDE_POST_LOGOUT_ALLOWED_URL_REGEX`: absolute URLs of other origins a logout's
   * `post_logout_redirect_url` may name (anchored, whole normalised URL). Kinde itself also checks
   * the application's "Allowed logout redirect URLs".
   */
  postLogoutAllowedUrlRegex?: string;
  /** Guard every route of the app (README "Protecting pages"): all but `publicPaths` need a signed-in caller. */
  protect?: KindeProtectOptions;
  /** `KINDE_AUDIENCE`: API audience(s) to request; access tokens must then carry it. Space-separated in the variable. */
  audience?: string | string[];
  /** `KINDE_SCOPE`. Default `openid profile email offline`. */
  scope?: string;
  /** `SESSION_SECRET`: signs cookies. A list rotates: the first signs, any verifies. */
  sessionSecret?: string | string[];
  /**
   * Where sessions live: a store, or `SESSION_STORE` (`sqlite`, the default, in `SESSION_SQLITE_PATH`
   * or `.data/sessions.db`, through `SESSION_SQLITE_DRIVER` (`node:sqlite`, the default, or
   * `better-sqlite3`); `memory`; `redis`, at `REDIS_URL`, keys prefixed by `REDIS_KEY_PREFIX`
   * (default `kinde:`), a local read cache of `REDIS_LOCAL_CACHE` entries (default 0: off), each
   * served at most `REDIS_LOCAL_CACHE_MAX_AGE_MS` after it was read (default 2,000); `postgres`,
   * at `DATABASE_URL`, in the table `kinde_sessions`).
   */
  sessionStore?: SessionStore | SessionStoreName;
  /** Idle timeout of a session in seconds (rolling). Default 86,400 (1 day). */
  idleTimeout?: number;
  /** Absolute lifetime of a session in seconds. Default 604,800 (7 days). */
  absoluteTimeout?: number;
  /** Auth route paths. Defaults under `/api/auth`. */
  routes?: Partial<KindeRoutePaths>;
  /** Bearer-token verification: JWKS refresh in the background after `maxAge` seconds (default 600), an unknown `kid` refetches at most once per `cooldown` seconds (default 30), `clockTolerance` seconds for exp/nbf (default 5), `cacheEntries` verified tokens remembered (default 10,000), and, while no `audience` is set, `clients`: client ids besides `clientId` whose tokens (`azp`) are accepted (e.g. your API docs' public client; default none). */
  bearer?: {
    maxAge?: number;
    cooldown?: number;
    clockTolerance?: number;
    cacheEntries?: number;
    clients?: string[];
  };
  /**
   * Variables to read instead of `process.env` (tests). No file is read: to use a `.env` file, load it
   * into `process.env` first (`process.loadEnvFile()`, or `node --env-file-if-exists=.env`).
   */
  env?: Record<string, string | undefined>;
  /** Sessions kept per user (`sub`); a new one past it ends the user's oldest. Default 100. */
  maxSessionsPerUser?: number;
  /** Opt-in route receiving Kinde's webhooks (README "Signing users out everywhere"). */
  webhooks?: KindeWebhookOptions;
  /** Called synchronously with each audit event (README "Operating it"); what it throws is logged once and ignored. */
  onAuthEvent?: (event: AuthEvent) => void;
  /** pino level of the audit lines, or `false` for none. Default `info`. */
  auditLogLevel?: 'trace' | 'debug' | 'info' | 'warn' | false;
  /** Seconds a provider reachability probe of `app.kinde.health()` is reused. Default 30. */
  healthProbeTtl?: number;
  /**
   * `KINDE_DIAGNOSTICS` (`true`/`false`): registers Kinde's `/api/auth/health` and `/api/auth/setup`
   * (README "Diagnostics"). Default off.
   */
  diagnostics?: boolean;
  /**
   * `KINDE_DEBUG_MODE` (`true`/`false`, as Kinde's Next.js SDK names it): logs why each request is
   * anonymous, why a guard refused, each login, callback, refresh and logout step, at `info` through
   * the request's logger, never a secret, token, code or cookie value. Default off.
   */
  debug?: boolean;
  /**
   * `KINDE_COOKIE_DOMAIN`: share the session cookie with every subdomain of this domain, e.g.
   * `example.com` for `app.example.com` and `api.example.com`. It must be the site URL's host or a
   * parent of it, and not a public suffix. The cookie is then named `__Secure-kinde_session` on
   * https (`__Host-` forbids a Domain). Default: none (host-only).
   */
  cookieDomain?: string;
  /**
   * While the app closes, also close each keep-alive connection as it goes idle, so that `close()`
   * ends once in-flight requests finish instead of after the keep-alive timeout (Fastify's
   * `forceCloseConnections: 'idle'` closes only those idle when closing starts). Default false.
   */
  closeIdleConnections?: boolean;
  /**
   * Where the plugin reads the time (milliseconds, as `Date.now()`): session idle and absolute
   * expiry, token expiry (`exp`/`nbf`), refresh timing and backoff, JWKS age, login attempts, and
   * the built-in stores' expiry. For tests that move time instead of waiting (`testClock()` in
   * `fastify-kinde/testing`). Default the system clock.
   */
  clock?: Clock;
}

/** The app-wide guard: every route needs a signed-in caller except the public ones. */
export interface KindeProtectOptions {
  /**
   * Routes open to anyone, by the path they were declared with (`'/'`, `'/health'`, `'/items/:id'`),
   * or a folder and everything under it (`'/static/*'`). The auth routes are always open.
   */
  publicPaths?: string[];
  /** Signed-out browsers asking for a page go to login and come back (see `requireAuth({ redirect })`). Default true. */
  redirect?: boolean;
}

/** The validated configuration: every value present and checked. */
export interface KindeConfig {
  issuerUrl: string;
  clientId: string;
  clientSecret: string | undefined;
  siteUrl: URL;
  secureCookies: boolean;
  /** The validated `Domain` of the session cookie (lower case, no leading dot), or undefined for a host-only cookie. */
  cookieDomain: string | undefined;
  postLoginRedirectUrl: string;
  postLogoutRedirectUrl: string;
  /** The anchored `KINDE_POST_LOGIN_ALLOWED_URL_REGEX`, when set. */
  postLoginAllowedUrls: RegExp | undefined;
  /** The anchored `KINDE_POST_LOGOUT_ALLOWED_URL_REGEX`, when set. */
  postLogoutAllowedUrls: RegExp | undefined;
  /** The app-wide guard, when asked for. */
  protect: ProtectSettings | undefined;
  audience: string[];
  scope: string;
  sessionSecrets: string[];
  /** True when no secret was configured and a random one was made for this process. */
  ephemeralSecret: boolean;
  idleTimeoutMs: number;
  absoluteTimeoutMs: number;
  routes: KindeRoutePaths;
  production: boolean;
  bearer: {
    maxAgeMs: number;
    cooldownMs: number;
    clockToleranceSeconds: number;
    cacheEntries: number;
    clients: string[];
  };
  /** The store given as an option, or which built-in one to make. */
  store: SessionStore | BuiltInStore;
  /** Kinde's health and setup routes are registered. */
  diagnostics: boolean;
  /** Debug mode: decisions explained in the log. */
  debug: boolean;
  /** {@link KindeOptions.closeIdleConnections}. */
  closeIdleConnections: boolean;
  /** The clock's time in milliseconds (`Date.now` unless the `clock` option is given). */
  now: () => number;
  /** The `clock` option, for the built-in stores. */
  clock: Clock | undefined;
}

/** The built-in stores, by the name `sessionStore` and `SESSION_STORE` take. */
export type SessionStoreName = 'sqlite' | 'memory' | 'redis' | 'postgres';

/** Which built-in store to make, from `sessionStore` or `SESSION_STORE`. */
export type BuiltInStore =
  | { kind: 'sqlite'; path: string; driver: SqliteDriverName }
  | { kind: 'memory' }
  | { kind: 'redis'; url: string; prefix: string; localCacheEntries: number; localCacheMaxAgeMs: number }
  | { kind: 'postgres'; connectionString: string };

const DEFAULT_ROUTES: KindeRoutePaths = {
  login: '/api/auth/login',
  register: '/api/auth/register',
  createOrg: '/api/auth/create_org',
  callback: '/api/auth/kinde_callback',
  logout: '/api/auth/logout',
  portal: '/api/auth/portal',
  health: '/api/auth/health',
  setup: '/api/auth/setup',
};

function fail(message: string): never {
  throw new KindeAuthError('ERR_CONFIG', message);
}

/** `bearer.clients`: non-empty client ids. */
function bearerClients(clients: unknown): string[] {
  if (clients === undefined) return [];
  if (!Array.isArray(clients) || clients.some((c) => typeof c !== 'string' || c.trim() === '')) {
    fail('"bearer.clients" must be a list of client ids (non-empty strings)');
  }
  return [...clients];
}

/** A boolean option, else its variable (`true`/`false`, `1`/`0`), else false. */
function flag(
  option: boolean | undefined,
  value: string | undefined,
  name: string,
  variable: string,
): boolean {
  if (option !== undefined) {
    if (typeof option !== 'boolean') fail(`"${name}" must be true or false`);
    return option;
  }
  if (value === undefined || value === '') return false;
  const normalized = value.trim().toLowerCase();
  if (normalized === 'true' || normalized === '1') return true;
  if (normalized === 'false' || normalized === '0') return false;
  fail(`${variable} (option "${name}") must be "true" or "false"; got "${value}"`);
}

function parseUrl(value: string, name: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`${name} must be an absolute URL (${what}); got "${value}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    fail(`${name} must be an http(s) URL; got "${value}"`);
  return url;
}

function positiveSeconds(value: number | undefined, fallback: number, name: string): number {
  const seconds = value ?? fallback;
  if (!Number.isFinite(seconds) || seconds <= 0) fail(`"${name}" must be a positive number of seconds`);
  return seconds * 1000;
}

function resolveSecrets(option: string | string[] | undefined, env: string | undefined, production: boolean) {
  const given = option ?? env?.split(',').map((s) => s.trim());
  const secrets = (Array.isArray(given) ? given : given === undefined ? [] : [given]).filter((s) => s !== '');
  if (secrets.length === 0) {
    if (production)
      fail('SESSION_SECRET (option "sessionSecret") is required in production: 32 or more random characters');
    return { secrets: [randomId()], ephemeral: true };
  }
  for (const secret of secrets) {
    if (secret.length < 32 && production) {
      fail('SESSION_SECRET (option "sessionSecret") must be at least 32 characters in production');
    }
  }
  return { secrets, ephemeral: false };
}

function resolveRoutes(routes: Partial<KindeRoutePaths> | undefined): KindeRoutePaths {
  const merged = { ...DEFAULT_ROUTES, ...routes };
  for (const [key, path] of Object.entries(merged)) {
    if (typeof path !== 'string' || !path.startsWith('/'))
      fail(`"routes.${key}" must be a path starting with "/"`);
  }
  return merged;
}

function redisStore(env: Record<string, string | undefined>): BuiltInStore {
  if (!env.REDIS_URL && env.NODE_ENV === 'production') {
    fail(
      'REDIS_URL is required in production when SESSION_STORE=redis, e.g. rediss://user:password@redis.internal:6380',
    );
  }
  const url = env.REDIS_URL || 'redis://127.0.0.1:6379';
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    fail('REDIS_URL must be a URL such as redis://127.0.0.1:6379');
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:')
    fail(`REDIS_URL must start with redis:// or rediss://; got "${protocol}"`);
  const entries = Number(env.REDIS_LOCAL_CACHE || 0);
  if (!Number.isInteger(entries) || entries < 0)
    fail('REDIS_LOCAL_CACHE must be a whole number of entries (0 turns the local cache off)');
  const maxAgeMs = Number(env.REDIS_LOCAL_CACHE_MAX_AGE_MS || 2_000);
  if (!Number.isInteger(maxAgeMs) || maxAgeMs < 1)
    fail('REDIS_LOCAL_CACHE_MAX_AGE_MS must be a positive whole number of milliseconds');
  const prefix = env.REDIS_KEY_PREFIX ?? 'kinde:';
  return { kind: 'redis', url, prefix, localCacheEntries: entries, localCacheMaxAgeMs: maxAgeMs };
}

function postgresStore(env: Record<string, string | undefined>): BuiltInStore {
  const url = env.DATABASE_URL;
  if (!url)
    fail(
      'DATABASE_URL is required when SESSION_STORE=postgres, e.g. postgres://user:password@db.internal:5432/app',
    );
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    fail('DATABASE_URL must be a URL such as postgres://user:password@db.internal:5432/app');
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:')
    fail(`DATABASE_URL must start with postgres:// or postgresql://; got "${protocol}"`);
  return { kind: 'postgres', connectionString: url };
}

function resolveStore(
  option: KindeOptions['sessionStore'],
  env: Record<string, string | undefined>,
): KindeConfig['store'] {
  if (typeof option === 'object') return option;
  const kind = option ?? env.SESSION_STORE ?? 'sqlite';
  if (kind === 'memory') return { kind };
  if (kind === 'sqlite') {
    const driver = sqliteDriver(env.SESSION_SQLITE_DRIVER, 'SESSION_SQLITE_DRIVER');
    return { kind, path: env.SESSION_SQLITE_PATH || '.data/sessions.db', driver };
  }
  if (kind === 'redis') return redisStore(env);
  if (kind === 'postgres') return postgresStore(env);
  fail(
    `SESSION_STORE (option "sessionStore") must be "sqlite", "memory" or "redis" (or "postgres", or a store object); got "${kind}"`,
  );
}

/**
 * Validates options and `KINDE_*` variables once, at registration, with messages that name the
 * variable and what it should be.
 */
export function resolveConfig(options: KindeOptions = {}): KindeConfig {
  const env = options.env ?? process.env;
  const production = env.NODE_ENV === 'production';

  const issuerRaw = options.issuerUrl ?? env.KINDE_ISSUER_URL;
  if (!issuerRaw)
    fail('KINDE_ISSUER_URL (option "issuerUrl") is required: your Kinde domain, e.g. https://acme.kinde.com');
  const issuer = parseUrl(issuerRaw, 'KINDE_ISSUER_URL', 'your Kinde domain, e.g. https://acme.kinde.com');
  // Loopback included: a production app pointed at http://127.0.0.1 is pointed at the emulator
  // (or at something else that is not Kinde), and its tokens would cross a network in clear anywhere else.
  if (production && issuer.protocol !== 'https:')
    fail(
      `KINDE_ISSUER_URL (option "issuerUrl") must use https in production (NODE_ENV=production); got "${issuerRaw}". The emulator is for development only`,
    );
  const issuerUrl = issuer.href.replace(/\/+$/, '');

  const clientId = options.clientId ?? env.KINDE_CLIENT_ID;
  if (!clientId)
    fail('KINDE_CLIENT_ID (option "clientId") is required: the client id of your Kinde application');
  const clientSecret = options.clientSecret ?? env.KINDE_CLIENT_SECRET;

  const siteRaw = options.siteUrl ?? env.KINDE_SITE_URL;
  if (!siteRaw)
    fail(
      'KINDE_SITE_URL (option "siteUrl") is required: the public origin of this app, e.g. http://127.0.0.1:8000',
    );
  const siteUrl = parseUrl(siteRaw, 'KINDE_SITE_URL', 'the public origin of this app');
  // Over http the session cookie is neither Secure nor __Host-, so it would travel in clear.
  if (production && siteUrl.protocol !== 'https:')
    fail(
      `KINDE_SITE_URL (option "siteUrl") must use https in production (NODE_ENV=production), so session cookies are Secure; got "${siteRaw}"`,
    );

  const postLoginRedirectUrl = options.postLoginRedirectUrl ?? env.KINDE_POST_LOGIN_REDIRECT_URL ?? '/';
  const postLogoutRedirectUrl =
    options.postLogoutRedirectUrl ?? env.KINDE_POST_LOGOUT_REDIRECT_URL ?? siteUrl.origin;
  parseUrl(
    postLogoutRedirectUrl,
    'KINDE_POST_LOGOUT_REDIRECT_URL',
    'an allowed logout redirect URL of your application',
  );

  const loginRegex = options.postLoginAllowedUrlRegex ?? env.KINDE_POST_LOGIN_ALLOWED_URL_REGEX;
  const logoutRegex = options.postLogoutAllowedUrlRegex ?? env.KINDE_POST_LOGOUT_ALLOWED_URL_REGEX;

  const audienceRaw = options.audience ?? env.KINDE_AUDIENCE?.split(/[\s,]+/);
  const audience = (Array.isArray(audienceRaw) ? audienceRaw : audienceRaw ? [audienceRaw] : []).filter(
    Boolean,
  );

  const scope = (options.scope ?? env.KINDE_SCOPE ?? 'openid profile email offline').trim();
  if (!scope.split(/\s+/).includes('openid'))
    fail(`KINDE_SCOPE (option "scope") must include "openid"; got "${scope}"`);

  const { secrets, ephemeral } = resolveSecrets(options.sessionSecret, env.SESSION_SECRET, production);
  const store = resolveStore(options.sessionStore, env);
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
    fail('"clock" must be an object with a now() method answering milliseconds since the epoch');
  }

  return {
    issuerUrl,
    clientId,
    clientSecret: clientSecret || undefined,
    siteUrl,
    secureCookies: siteUrl.protocol === 'https:',
    cookieDomain: resolveCookieDomain(options.cookieDomain ?? env.KINDE_COOKIE_DOMAIN, siteUrl),
    postLoginRedirectUrl,
    postLogoutRedirectUrl,
    postLoginAllowedUrls: loginRegex
      ? compileAllowList(loginRegex, 'KINDE_POST_LOGIN_ALLOWED_URL_REGEX (option "postLoginAllowedUrlRegex")')
      : undefined,
    postLogoutAllowedUrls: logoutRegex
      ? compileAllowList(
          logoutRegex,
          'KINDE_POST_LOGOUT_ALLOWED_URL_REGEX (option "postLogoutAllowedUrlRegex")',
        )
      : undefined,
    protect: resolveProtect(options.protect),
    audience,
    scope,
    sessionSecrets: secrets,
    ephemeralSecret: ephemeral,
    idleTimeoutMs: positiveSeconds(options.idleTimeout, 86_400, 'idleTimeout'),
    absoluteTimeoutMs: positiveSeconds(options.absoluteTimeout, 604_800, 'absoluteTimeout'),
    routes: resolveRoutes(options.routes),
    production,
    store,
    closeIdleConnections: flag(options.closeIdleConnections, undefined, 'closeIdleConnections', ''),
    now: nowOf(options.clock),
    clock: options.clock,
    bearer: {
      maxAgeMs: positiveSeconds(options.bearer?.maxAge, 600, 'bearer.maxAge'),
      cooldownMs: positiveSeconds(options.bearer?.cooldown, 30, 'bearer.cooldown'),
      clockToleranceSeconds:
        positiveSeconds(options.bearer?.clockTolerance, 5, 'bearer.clockTolerance') / 1000,
      cacheEntries: Math.max(0, Math.floor(options.bearer?.cacheEntries ?? 10_000)),
      clients: bearerClients(options.bearer?.clients),
    },
    diagnostics: flag(options.diagnostics, env.KINDE_DIAGNOSTICS, 'diagnostics', 'KINDE_DIAGNOSTICS'),
    debug: flag(options.debug, env.KINDE_DEBUG_MODE, 'debug', 'KINDE_DEBUG_MODE'),
  };
}
