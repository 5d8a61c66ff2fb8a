/**
 * kinde-emulator: a local, Kinde-compatible OpenID Connect provider for development and tests.
 *
 * @example
 * import { startEmulator } from 'kinde-emulator';
 * const emu = await startEmulator({ port: 0, headlessLogin: true });
 * // point your app's KINDE_ISSUER_URL at emu.issuerUrl
 * await emu.close();
 */
export {
  Clock,
  type EmulatorContext,
  type EndpointFailure,
  type FailureTarget,
  type TokenFailure,
} from './context.js';
export { EmulatorControl, type IssueTokensOptions, type TokenFailureOptions } from './control.js';
export {
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  defaultDirectory,
  KINDE_DEFAULT_LIFETIMES,
} from './directory.js';
export { loadDirectoryFile, watchDirectoryFile } from './directory-file.js';
export { createEmulator, type Emulator, type EmulatorOptions, startEmulator } from './emulator.js';
export type { TokenResponse } from './grants.js';
export { isAtobSafeKid, KeyRing, type SigningKey } from './keys.js';
export type { EmulatorLogOptions } from './server.js';
export type {
  AuthRequest,
  CodeGrant,
  ExpiringMap,
  ProtocolStore,
  RefreshGrant,
  SsoSession,
} from './store.js';
export type {
  Application,
  Directory,
  FlagValue,
  GrantType,
  Membership,
  Organization,
  PermissionDefinition,
  RequestLogEntry,
  Role,
  TokenLifetimes,
  User,
  WebhookConfig,
} from './types.js';
export { DirectoryError, validateDirectory } from './validate.js';
export {
  type EventSubject,
  WEBHOOK_EVENT_TYPES,
  type WebhookEvent,
  type WebhookSource,
} from './webhooks/events.js';
export {
  DEFAULT_RETRY_DELAYS_MS,
  type DeliveryAttempt,
  type WebhookDelivery,
  type WebhookEndpoint,
  type WebhookOptions,
  Webhooks,
} from './webhooks/hub.js';
