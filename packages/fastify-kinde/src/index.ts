import fp from 'fastify-plugin';
import { kindePlugin } from './plugin.js';

export type {
  KindeEntitlement,
  KindeEntitlementResult,
  KindeEntitlements,
  KindePlan,
} from './account-api.js';
export type { FlagType, FlagValue, KindeFlag, KindeOrganizationRef, KindeRole } from './claims.js';
export type { Clock } from './clock.js';
export type { BuiltInStore, KindeConfig, KindeOptions, KindeRoutePaths, SessionStoreName } from './config.js';
export type {
  CallerKind,
  KindeContext,
  KindeOrganization,
  KindeOrganizations,
  TokenName,
} from './context.js';
export type { SetupCheck } from './diagnostics.js';
export { KindeAuthError, type KindeErrorCode } from './errors.js';
export {
  type AuthMode,
  type GuardRequirement,
  KINDE_GUARD,
  type KindeGuard,
  requireAuth,
  requireEntitlement,
  requireFlag,
  requireKinde,
  requireOrg,
  requirePermission,
  requireRole,
} from './guards.js';
export type { KindeHasParams } from './has.js';
export type { KindeHealth, ProbeResult } from './health.js';
export type { KindeInstance } from './plugin.js';
export { PORTAL_PAGES, type PortalPage } from './portal.js';
export type { RevocationOutcome } from './revocation.js';
export { type MemorySessionStoreOptions, memorySessionStore } from './session/memory.js';
export {
  type PostgresLocalCacheOptions,
  type PostgresPool,
  type PostgresSessionStore,
  type PostgresSessionStoreOptions,
  type PostgresTableOptions,
  postgresSessionStore,
} from './session/postgres.js';
export { postgresSessionSchema } from './session/postgres-sql.js';
export type { Claims, KindeUser, KindeUserProfile, SessionRecord } from './session/record.js';
export {
  type RedisClient,
  type RedisLocalCacheOptions,
  type RedisSessionStore,
  type RedisSessionStoreOptions,
  redisSessionStore,
} from './session/redis.js';
export {
  type SqliteConnection,
  type SqliteDriverName,
  type SqliteSessionStore,
  type SqliteSessionStoreOptions,
  type SqliteStatement,
  sqliteSessionStore,
} from './session/sqlite.js';
export type { MaybePromise, SessionStore, SharedSessionStore, StoreEntry } from './session/store.js';
export type { SessionFilter, UserSessionInfo } from './session/user-index.js';
export {
  type AuthEvent,
  type AuthEventBody,
  type AuthReason,
  CHANNELS,
  type LoginMethod,
  type ProviderEndpoint,
} from './telemetry.js';
export {
  defaultWebhookReactions,
  type KindeWebhookEvent,
  type KindeWebhookOptions,
  type WebhookActions,
  type WebhookReaction,
} from './webhooks.js';

/**
 * Kinde authentication for Fastify. Register once; protect a route with one line.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import fastifyKinde, { requireAuth } from 'fastify-kinde';
 *
 * const app = Fastify();
 * await app.register(fastifyKinde); // reads KINDE_ISSUER_URL, KINDE_CLIENT_ID, … and SESSION_SECRET
 * app.get('/', { onRequest: requireAuth() }, () => ({ Hello: 'World' }));
 * ```
 */
const fastifyKinde = fp(kindePlugin, { fastify: '5.x', name: 'fastify-kinde' });
export default fastifyKinde;
export { fastifyKinde };
