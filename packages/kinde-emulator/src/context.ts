import type { KeyRing } from './keys.js';
import type { ProtocolStore } from './store.js';
import type { Directory, RequestLogEntry, TokenLifetimes } from './types.js';
import type { Webhooks } from './webhooks/hub.js';

/** Endpoints a test can make fail. */
export type FailureTarget = 'token' | 'jwks' | 'user_profile' | 'discovery' | 'account_api';

/** A failure injected into an endpoint by a test. */
export interface EndpointFailure {
  /** `down`: answer 503 with a JSON error; `slow`: answer normally after `delayMs`. */
  mode: 'down' | 'slow';
  delayMs: number;
  /** How many requests it affects; undefined = until cleared. */
  remaining: number | undefined;
}

/** @deprecated Use {@link EndpointFailure}. */
export type TokenFailure = EndpointFailure;

/** The emulator clock: real time plus an adjustable offset. */
export class Clock {
  /** Offset added to real time, in seconds (may be negative). */
  offsetSeconds = 0;

  /** Current emulator time in unix seconds (integer). */
  now(): number {
    return Math.floor(Date.now() / 1000 + this.offsetSeconds);
  }

  /** Moves the clock forward (or back, with a negative value). */
  advance(seconds: number): void {
    this.offsetSeconds += seconds;
  }
}

/** Shared state every route reads. */
export interface EmulatorContext {
  directory: Directory;
  keys: KeyRing;
  store: ProtocolStore;
  clock: Clock;
  requests: RequestLogEntry[];
  /** Set once the server listens; otherwise derived from the request. */
  issuer: string | undefined;
  headlessLogin: boolean;
  /** Option overrides of the directory's lifetimes. */
  lifetimeOverrides: Partial<TokenLifetimes>;
  refreshGraceSeconds: number | undefined;
  /** Kinde's behaviour: a refresh returns the previous access token while it is unexpired. */
  reuseAccessTokenOnRefresh: boolean;
  failures: Partial<Record<FailureTarget, EndpointFailure>>;
  /** Called after the signing keys change (persists them when a key file is configured). */
  onKeysChanged: (() => Promise<void>) | undefined;
  /** Webhook endpoints and deliveries; routes emit events through it (e.g. `user.created`). */
  webhooks?: Webhooks;
}

/** Effective token lifetimes: option overrides, then the directory, then Kinde's defaults. */
export function lifetimes(ctx: EmulatorContext): TokenLifetimes {
  return { ...ctx.directory.tokenLifetimes, ...ctx.lifetimeOverrides };
}

/** Effective refresh grace window in seconds. */
export function refreshGrace(ctx: EmulatorContext): number {
  return ctx.refreshGraceSeconds ?? ctx.directory.refreshGraceSeconds ?? 5;
}
