/**
 * Type test for the public API: this file must compile under the strict tsconfig (it is built by
 * `npm test`), with no `any`. The `@ts-expect-error` lines prove that misuse does not compile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import fastifyKinde, {
  type AuthMode,
  type BuiltInStore,
  type CallerKind,
  type GuardRequirement,
  KindeAuthError,
  type KindeContext,
  type KindeEntitlement,
  type KindeEntitlementResult,
  type KindeEntitlements,
  type KindeFlag,
  type KindeGuard,
  type KindeHasParams,
  type KindeOptions,
  type KindeOrganization,
  type KindeOrganizations,
  type KindeRole,
  type KindeUser,
  type KindeUserProfile,
  memorySessionStore,
  PORTAL_PAGES,
  type PortalPage,
  type PostgresSessionStore,
  type RedisClient,
  type RedisSessionStore,
  type RedisSessionStoreOptions,
  requireAuth,
  requireEntitlement,
  requireFlag,
  requireKinde,
  requireOrg,
  requirePermission,
  requireRole,
  type SessionFilter,
  type SessionRecord,
  type SessionStore,
  type SessionStoreName,
  type SharedSessionStore,
} from '../src/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<T>(_value: T): void {}
function assertType<_T extends true>(): void {}

export async function typedApp() {
  const app = Fastify();
  const options: KindeOptions = {
    sessionStore: memorySessionStore({ maxEntries: 10 }),
    routes: { login: '/login', portal: '/account/portal', health: '/diag/health', setup: '/diag/setup' },
    diagnostics: true,
    debug: false,
  };
  await app.register(fastifyKinde, options);
  const portalPath: string = app.kinde.routes.portal;
  const page: PortalPage = PORTAL_PAGES[0];
  // @ts-expect-error not one of Kinde's portal sections
  const wrongPage: PortalPage = 'billing';
  void [portalPath, page, wrongPage];
  // @ts-expect-error diagnostics is a boolean
  const badDiagnostics: KindeOptions = { diagnostics: 'yes' };
  void badDiagnostics;

  app.get<{ Params: { id: number } }>(
    '/items/:id',
    { onRequest: requirePermission('read:items') },
    async (request) => {
      const kinde: KindeContext = request.kinde;
      const kind: CallerKind = kinde.kind;
      const user: KindeUser | null = kinde.getUser();
      const profile: KindeUserProfile | null = await kinde.getUserProfile();
      const dark: boolean = kinde.getBooleanFlag('dark_mode', false);
      const theme: string = kinde.getStringFlag('theme', 'light');
      const max: number = kinde.getIntegerFlag('max_items', 10);
      const flag: KindeFlag<number> = kinde.getFlag('max_items', 3);
      const roles: KindeRole[] = kinde.getRoles();
      const granted: boolean = kinde.getPermission('write:items').isGranted;
      const orgCode: string | null = kinde.getOrganization().orgCode;
      const token: string | null = kinde.getAccessToken();
      assertType<Equal<typeof request.params.id, number>>();
      return {
        kind,
        user,
        profile,
        dark,
        theme,
        max,
        flag,
        roles,
        granted,
        orgCode,
        token,
        id: request.params.id,
      };
    },
  );

  const requirement: GuardRequirement = { roles: ['admin'], flags: { theme: 'pink' }, org: true };
  const guards: KindeGuard[] = [
    requireAuth(),
    requireRole('admin'),
    requireFlag('beta'),
    requireOrg('org_1'),
    requireKinde(requirement),
  ];
  app.get('/guarded', { onRequest: guards }, () => ({ ok: true }));
  app.get('/billing', { onRequest: requireEntitlement(['Pro']) }, async (request) => {
    const kinde = request.kinde;
    const org: KindeOrganization = kinde.getOrganization();
    const orgs: KindeOrganizations = kinde.getUserOrganizations();
    const all: KindeEntitlements = await kinde.getEntitlements();
    const first: KindeEntitlement | undefined = all.entitlements[0];
    const one: KindeEntitlementResult = await kinde.getEntitlement('seats');
    const params: KindeHasParams = {
      roles: ['admin', { role: 'owner', condition: (role) => role.name.length > 0 }],
      featureFlags: [{ flag: 'theme', value: 'pink' }],
      billingEntitlements: [{ entitlement: 'Pro', condition: (e) => (e.entitlementLimitMax ?? 0) > 1 }],
    };
    const has: boolean = await kinde.has(params);
    const claims: Readonly<Record<string, unknown>> | null = kinde.getClaims('idToken');
    const username: string | null | undefined = kinde.getUser()?.username;
    await kinde.refreshTokens();
    // @ts-expect-error has() takes js-utils' keys only
    await kinde.has({ permission: ['x'] });
    return { org, orgs, first, one, has, claims, username };
  });
  app.get('/plan', { config: { kinde: { billingEntitlements: ['Pro'] } } }, () => ({ ok: true }));
  expectType<typeof requireEntitlement>(app.kinde.requireEntitlement);
  app.get('/declared', { config: { kinde: { permissions: ['read:items'] } } }, () => ({ ok: true }));
  app.get('/signed-in', { config: { kinde: true } }, () => ({ ok: true }));
  expectType<typeof requireAuth>(app.kinde.requireAuth);
  expectType<SessionStore>(app.kinde.store);
  app.get('/page', { onRequest: requireAuth({ redirect: true }) }, () => 'page');
  app.get('/page2', { config: { kinde: { roles: ['admin'], redirect: true } } }, () => 'page');
  app.get('/open', { config: { kinde: false } }, () => 'open');
  const protect: KindeOptions = {
    protect: { publicPaths: ['/', '/static/*'], redirect: true },
    postLoginAllowedUrlRegex: 'https://partner\\.example/.*',
    postLogoutAllowedUrlRegex: 'https://partner\\.example/bye',
  };
  const switchTo: string = app.kinde.switchOrgUrl('org_1', { returnTo: '/dashboard' });
  // @ts-expect-error redirect is a boolean
  requireAuth({ redirect: 'yes' });
  // @ts-expect-error publicPaths is a list
  const badProtect: KindeOptions = { protect: { publicPaths: '/health' } };

  // @ts-expect-error a permission is a string or a list of strings
  requirePermission(42);
  // @ts-expect-error flags compare with boolean, string or number values
  requireFlag('theme', { pink: true });
  return { app, protect, switchTo, badProtect };
}

/** Every type a public signature names can be named by a user too. */
export function namedTypes(redis: Redis, cluster: Cluster) {
  const mode: AuthMode = 'bearer';
  requireAuth({ auth: mode });
  // @ts-expect-error only the three modes exist
  const wrong: AuthMode = 'cookie';
  const name: SessionStoreName = 'postgres';
  const options: KindeOptions = { sessionStore: name };
  // @ts-expect-error only the built-in stores have names
  const unknownStore: KindeOptions = { sessionStore: 'mongo' };
  const builtIn: BuiltInStore = { kind: 'memory' };
  const filter: SessionFilter = (record: SessionRecord) => record.user.email !== null;
  // ioredis's clients fit the store's structural client type as they are.
  const clients: RedisClient[] = [redis, cluster];
  const redisOptions: RedisSessionStoreOptions = { client: redis };
  return { wrong, options, unknownStore, builtIn, filter, clients, redisOptions };
}

/** The network stores share one interface. */
export function sharedStores(redis: RedisSessionStore, postgres: PostgresSessionStore): SharedSessionStore[] {
  return [redis, postgres];
}

test('the public API types hold (compiled), and errors carry stable codes', () => {
  const error = new KindeAuthError('ERR_STATE_MISMATCH', 'x');
  assert.equal(error.statusCode, 400);
  assert.equal(error.code, 'ERR_STATE_MISMATCH');
  // @ts-expect-error only known codes exist
  new KindeAuthError('ERR_NOPE', 'x');
  assert.equal(typeof typedApp, 'function');
  assert.equal(typeof namedTypes, 'function');
  assert.equal(typeof sharedStores, 'function');
});
