import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { FailureTarget, RequestLogEntry, TokenFailureOptions } from 'kinde-emulator';
import type { KindeOptions } from '../config.js';
import { SESSION_PREFIX } from '../session/manager.js';
import type { SessionRecord } from '../session/record.js';
import { authorize, cookieHeader, expectRedirect, kindeOf, setCookies } from './flow.js';
import {
  checkKeys,
  checkOrg,
  IDENTITY_KEYS,
  type Identity,
  type IdentityOptions,
  planIdentity,
  stringList,
  userIn,
} from './identity.js';
import { type DirectoryPatch, KindeTestError, type Provider } from './provider.js';
import { audienceList, type Client, machineAccessToken, userAccessToken } from './tokens.js';

/** Options of {@link KindeTestKit.bearerFor}: who, and for which audience and client. */
export interface BearerOptions extends IdentityOptions {
  /** `aud` of the token. Default none, which the app accepts when `KINDE_AUDIENCE` is not set. */
  audience?: string | string[];
  /** The application the token is issued to (`azp`); default the app's own client id. */
  clientId?: string;
  /** That application's secret, when it has one and the kit does not know it. */
  clientSecret?: string;
}

/** Options of {@link KindeTestKit.machineToken}. */
export interface MachineOptions {
  /** Permissions the application is granted (`permissions` claim); written to the directory. */
  permissions?: string[];
  /** Organization the application is scoped to (`org_code`); written to the directory. */
  org?: string;
  /** `aud` of the token. Default none. */
  audience?: string | string[];
  /** The application (`azp`); default the app's own client id. */
  clientId?: string;
  /** That application's secret, when the kit does not know it. */
  clientSecret?: string;
}

const MACHINE_KEYS = ['permissions', 'org', 'audience', 'clientId', 'clientSecret'];
const SESSION_COOKIE = /^(?:__Host-|__Secure-)?kinde_session$/;

/** What a kit is made from (see `startKindeTest` and `connectKindeTest`). */
export interface KitInit {
  provider: Provider;
  client: Client;
  siteUrl: string;
}

/**
 * An emulator wired for tests: options for the plugin, signed-in users through the real login
 * flow, bearer and machine tokens, and the emulator's clock, faults and request log.
 */
export class KindeTestKit {
  /** The emulator's issuer URL (`KINDE_ISSUER_URL`). */
  readonly issuerUrl: string;
  /** The application's client id (`KINDE_CLIENT_ID`). */
  readonly clientId: string;
  /** Signs the sessions of apps made with {@link options}: random per kit. */
  readonly sessionSecret = randomBytes(32).toString('hex');
  private readonly provider: Provider;
  private readonly client: Client;
  private readonly siteUrl: string;
  private closed = false;

  /** Made by `startKindeTest` or `connectKindeTest`; not meant to be constructed directly. */
  constructor(init: KitInit) {
    this.provider = init.provider;
    this.client = init.client;
    this.siteUrl = init.siteUrl;
    this.issuerUrl = init.provider.issuerUrl;
    this.clientId = init.client.clientId;
  }

  /**
   * Options for `app.register(fastifyKinde, kit.options())`: this emulator, an in-memory session
   * store, and no environment variables or `.env` file read. `overrides` win.
   */
  options(overrides: KindeOptions = {}): KindeOptions {
    return {
      issuerUrl: this.issuerUrl,
      clientId: this.clientId,
      clientSecret: this.client.clientSecret,
      siteUrl: this.siteUrl,
      sessionSecret: this.sessionSecret,
      sessionStore: 'memory',
      env: {},
      ...overrides,
    };
  }

  /** The same as environment variables, for an app that reads `KINDE_*` itself. */
  env(): Record<string, string> {
    return {
      KINDE_ISSUER_URL: this.issuerUrl,
      KINDE_CLIENT_ID: this.clientId,
      ...(this.client.clientSecret ? { KINDE_CLIENT_SECRET: this.client.clientSecret } : {}),
      KINDE_SITE_URL: this.siteUrl,
      SESSION_SECRET: this.sessionSecret,
      SESSION_STORE: 'memory',
    };
  }

  /**
   * Signs a user in to `app` through its real login route, the emulator's `/oauth2/auth` and its
   * real callback (state, PKCE, nonce, signatures all checked), and returns the session's Cookie
   * header, for `app.inject({ headers: { cookie } })` or any HTTP client.
   *
   * @example
   * const cookie = await kit.signIn(app, { permissions: ['delete:items'] });
   * const res = await app.inject({ method: 'DELETE', url: '/items/1', headers: { cookie } });
   */
  async signIn(app: FastifyInstance, options: IdentityOptions = {}): Promise<string> {
    const what = 'signIn';
    this.open(what);
    checkKeys(what, options, IDENTITY_KEYS);
    const kinde = await kindeOf(what, app, this.issuerUrl);
    const user = await this.prepare(what, options);
    const query = new URLSearchParams({ login_hint: user.email });
    if (user.orgCode) query.set('org_code', user.orgCode);
    const login = await app.inject({ method: 'GET', url: `${kinde.routes.login}?${query}` });
    const authUrl = expectRedirect(what, `GET ${kinde.routes.login}`, login);
    if (!authUrl.startsWith(`${this.issuerUrl}/`)) {
      throw new KindeTestError(
        `${what}: the login route sent the browser to ${authUrl}, not to the emulator`,
      );
    }
    const back = new URL(await authorize(what, authUrl, user.userId));
    const callback = await app.inject({
      method: 'GET',
      url: `${back.pathname}${back.search}`,
      headers: { cookie: cookieHeader(setCookies(login.headers)) },
    });
    expectRedirect(what, `GET ${back.pathname}`, callback);
    const session = [...setCookies(callback.headers)].filter(([name]) => SESSION_COOKIE.test(name));
    if (session.length === 0) throw new KindeTestError(`${what}: the callback set no session cookie`);
    return cookieHeader(new Map(session));
  }

  /**
   * A user's access token, for `Authorization: Bearer`, through the emulator's authorization-code
   * flow. By default it names no audience and is issued to the app's own client id, which is what
   * the app accepts without `KINDE_AUDIENCE`; ask for an `audience` or another `clientId` to test
   * the other cases.
   */
  async bearerFor(options: BearerOptions = {}): Promise<string> {
    const what = 'bearerFor';
    this.open(what);
    checkKeys(what, options, [...IDENTITY_KEYS, 'audience', 'clientId', 'clientSecret']);
    const audience = audienceList(what, options.audience);
    const { audience: _a, clientId, clientSecret, ...identity } = options;
    const client = clientId === undefined ? this.client : { clientId, clientSecret };
    const user = await this.prepare(what, identity);
    const redirectUri = new URL('/api/auth/kinde_callback', this.siteUrl).href;
    return userAccessToken(this.issuerUrl, client, redirectUri, user, audience);
  }

  /**
   * A client-credentials (machine) access token. `permissions` and `org` are granted to the
   * application in the directory first, as in Kinde's M2M application settings.
   */
  async machineToken(options: MachineOptions = {}): Promise<string> {
    const what = 'machineToken';
    this.open(what);
    checkKeys(what, options, MACHINE_KEYS);
    const audience = audienceList(what, options.audience);
    const clientId = options.clientId ?? this.clientId;
    const clientSecret = options.clientSecret ?? (options.clientId ? undefined : this.client.clientSecret);
    const patch: DirectoryPatch = {};
    const app: Record<string, unknown> = { clientId };
    const permissions = stringList(what, 'permissions', options.permissions);
    if (permissions !== undefined) app.permissions = [...permissions];
    checkOrg(what, options.org);
    if (options.org !== undefined) {
      const dir = await this.provider.directory();
      if (!dir.organizations.some((o) => o.code === options.org)) {
        patch.organizations = [{ code: options.org, name: options.org }];
      }
      app.orgCode = options.org;
    }
    if (Object.keys(app).length > 1) await this.provider.merge({ ...patch, applications: [app] });
    return machineAccessToken(this.issuerUrl, { clientId, clientSecret }, audience);
  }

  /**
   * Makes the session behind `cookie` treat its access token as expired, so that the app's next
   * request for it refreshes through the emulator's token endpoint (real refresh token, real
   * verification). Combine with {@link advanceClock} (refresh token expired: the session ends) or
   * {@link fail} (provider down: 503).
   */
  async expireAccessToken(app: FastifyInstance, cookie: string): Promise<void> {
    const what = 'expireAccessToken';
    this.open(what);
    const kinde = await kindeOf(what, app, this.issuerUrl);
    const id = sessionId(cookie);
    if (id === undefined) {
      throw new KindeTestError(`${what}: pass the Cookie header signIn returned (kinde_session=…)`);
    }
    const key = SESSION_PREFIX + id;
    const entry = await kinde.store.get(key);
    if (entry === undefined) {
      throw new KindeTestError(`${what}: no session for this cookie in this app (signed out, or expired)`);
    }
    const record: SessionRecord = { ...(entry.value as SessionRecord), accessExpiresAt: Date.now() - 1_000 };
    const ttlMs = Math.max(1_000, entry.expiresAt - Date.now());
    if (kinde.store.replace) await kinde.store.replace(key, record, ttlMs);
    else await kinde.store.set(key, record, ttlMs);
  }

  /** The emulator's clock: unix seconds, and its offset from real time. */
  async clock(): Promise<{ now: number; offsetSeconds: number }> {
    this.open('clock');
    return this.provider.clock();
  }

  /** Moves the emulator's clock (token, code and refresh-token expiry) by `seconds`. */
  async advanceClock(seconds: number): Promise<void> {
    this.open('advanceClock');
    return this.provider.advanceClock(seconds);
  }

  /** Makes `token`, `jwks`, `user_profile`, `discovery`, `revoke` or `account_api` answer 503 (`down`) or late (`slow`). */
  async fail(target: FailureTarget, options: TokenFailureOptions = { mode: 'down' }): Promise<void> {
    this.open('fail');
    return this.provider.fail(target, options);
  }

  /** Ends every fault injected with {@link fail}. */
  async clearFailures(): Promise<void> {
    this.open('clearFailures');
    return this.provider.clearFailures();
  }

  /** Requests the emulator received, oldest first (credentials redacted). */
  async requests(): Promise<RequestLogEntry[]> {
    this.open('requests');
    return this.provider.requests();
  }

  /** Empties the request log. */
  async clearRequests(): Promise<void> {
    this.open('clearRequests');
    return this.provider.clearRequests();
  }

  /** Forgets the emulator's sessions, codes, refresh tokens, log, faults and clock offset. */
  async reset(): Promise<void> {
    this.open('reset');
    return this.provider.reset();
  }

  /** Stops an emulator the kit started (a connected one keeps running). Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.provider.close();
  }

  private open(what: string): void {
    if (this.closed) {
      // The usual cause: node:test runs an `after` registered inside a before() hook when that hook ends.
      throw new KindeTestError(
        `${what}: this kit is closed (its emulator has stopped). With startKindeTest({ after }), call it at ` +
          'the top level of the test file, not inside a before() hook',
      );
    }
  }

  /** Puts the identity into the directory and resolves its user id. */
  private async prepare(what: string, options: IdentityOptions): Promise<Identity> {
    const identity = planIdentity(what, await this.provider.directory(), options);
    if (identity.patch === undefined) return identity;
    await this.provider.merge(identity.patch);
    return { ...identity, userId: userIn(await this.provider.directory(), identity.email).id };
  }
}

/** The session id in a Cookie header's session cookie (its value without the signature). */
function sessionId(header: unknown): string | undefined {
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || !SESSION_COOKIE.test(part.slice(0, eq).trim())) continue;
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
    const dot = value.lastIndexOf('.');
    return dot > 0 ? value.slice(0, dot) : undefined;
  }
  return undefined;
}
