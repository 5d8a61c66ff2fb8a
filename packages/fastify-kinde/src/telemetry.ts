import diagnostics_channel, { type TracingChannel } from 'node:diagnostics_channel';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { KindeAuthError, type KindeErrorCode } from './errors.js';
import type { OidcClient } from './oidc.js';
import type { SessionRefresher } from './session/manager.js';
import type { SessionRecord } from './session/record.js';
import { isPromise, type MaybePromise, type SessionStore } from './session/store.js';

/**
 * Telemetry through Node's `diagnostics_channel`: zero dependencies, and free when nobody listens
 * (each publish is guarded by `hasSubscribers`). An OpenTelemetry bridge subscribes to these
 * channels and turns them into spans and metrics (README "Operating it").
 */

/** How a login began: the route that started it. */
export type LoginMethod = 'login' | 'register' | 'create_org';

/** The stable reason of a refusal: a {@link KindeErrorCode}, or `ERR_UNEXPECTED` for a bug. */
export type AuthReason = KindeErrorCode | 'ERR_UNEXPECTED';

/** One audit event. Never a token, code, cookie value or secret; `userId` is the Kinde user id (`sub`). */
export type AuthEventBody =
  | { type: 'login.started'; method: LoginMethod; orgCode: string | null }
  | { type: 'login.completed'; method: LoginMethod | null; userId: string; orgCode: string | null }
  | { type: 'login.refused'; reason: AuthReason; providerError?: string }
  | {
      type: 'logout';
      userId: string | null;
      /** Whether the provider revoked the session's tokens (RFC 7009): best effort, never blocks the sign-out. */
      revocation?: 'revoked' | 'failed' | 'timeout' | 'none';
    }
  | { type: 'refresh'; outcome: 'ok' | 'refused' | 'provider_down'; userId: string | null }
  | { type: 'session.expired'; reason: 'absolute_timeout' | 'not_found'; userId: string | null }
  | { type: 'session.revoked'; userId: string | null; sessions?: number }
  | { type: 'bearer.refused'; reason: AuthReason; detail: string };

/** An audit event as delivered: the body, when, and (for events of a request) its id and client address. */
export type AuthEvent = AuthEventBody & { time: string; requestId?: string; ip?: string };

/** The stable reason code of an error: its {@link KindeErrorCode}, or `ERR_UNEXPECTED`. */
export function reasonOf(error: unknown): AuthReason {
  return error instanceof KindeAuthError ? error.code : 'ERR_UNEXPECTED';
}

/** Channel names, stable: subscribe to them with `diagnostics_channel` (or the OTel bridge). */
export const CHANNELS = {
  /** Plain channel: every {@link AuthEvent}. */
  authEvent: 'fastify-kinde:auth-event',
  /** Plain channel: `{ status, reason }` of each guard refusal (401/403/503). */
  guard: 'fastify-kinde:guard',
  /** Tracing channel: a login step, context `{ step: 'start' | 'callback', method }`. */
  login: 'fastify-kinde:login',
  /** Tracing channel: a session refresh (one per flight), context `{ outcome }` set at the end. */
  refresh: 'fastify-kinde:refresh',
  /** Tracing channel: a call to the provider, context `{ endpoint, url? }`. */
  provider: 'fastify-kinde:provider',
  /** Tracing channel: a session store operation, context `{ operation, store }`. */
  store: 'fastify-kinde:store',
  /** Plain channel: `{ issuerUrl, stats }` once per plugin instance, when it registers (for gauges). */
  instance: 'fastify-kinde:instance',
} as const;

const authEventChannel = diagnostics_channel.channel(CHANNELS.authEvent);
const guardChannel = diagnostics_channel.channel(CHANNELS.guard);
export const loginChannel: TracingChannel<object, object> = diagnostics_channel.tracingChannel(
  CHANNELS.login,
);
export const refreshChannel: TracingChannel<object, object> = diagnostics_channel.tracingChannel(
  CHANNELS.refresh,
);
const providerChannel: TracingChannel<object, object> = diagnostics_channel.tracingChannel(CHANNELS.provider);
const storeChannel: TracingChannel<object, object> = diagnostics_channel.tracingChannel(CHANNELS.store);

/** Provider endpoints, named as in the spans' `kinde.endpoint` attribute. */
export type ProviderEndpoint = 'discovery' | 'token' | 'user_profile' | 'jwks' | 'revocation' | 'account_api';

/** Runs `work` as a span on `channel` when anyone listens; otherwise just runs it. */
export function traced<T>(channel: TracingChannel<object, object>, context: object, work: () => Promise<T>) {
  return channel.hasSubscribers ? channel.tracePromise(work, context) : work();
}

/** A provider call, traced by endpoint. */
export function tracedProvider<T>(endpoint: ProviderEndpoint, work: () => Promise<T>): Promise<T> {
  return traced(providerChannel, { endpoint }, work);
}

/** What an instance announces on {@link CHANNELS.instance}: `stats()` is cheap and synchronous. */
export interface InstanceAnnouncement {
  issuerUrl: string;
  stats(): { bearerCache: { hits: number; misses: number } };
}

/** Announces a plugin instance to whoever listens (an OTel bridge registers its gauges on it). */
export function announceInstance(announcement: InstanceAnnouncement): void {
  const channel = diagnostics_channel.channel(CHANNELS.instance);
  if (channel.hasSubscribers) channel.publish(announcement);
}

/** Publishes a guard refusal (cheap when nobody listens: guards run on every protected request). */
export function guardRefused(status: number, reason: string): void {
  if (guardChannel.hasSubscribers) guardChannel.publish({ status, reason });
}

/** A store operation that may answer synchronously, traced without turning it into a promise. */
function traceMaybe<T>(context: Record<string, unknown>, work: () => MaybePromise<T>): MaybePromise<T> {
  // runStores, not publish: a subscriber's bound store (a span as the parent of what runs inside) applies.
  return storeChannel.start.runStores(context, () => {
    let result: MaybePromise<T>;
    try {
      result = work();
    } catch (error) {
      context.error = error;
      storeChannel.error.publish(context);
      storeChannel.end.publish(context);
      throw error;
    }
    context.result = result;
    storeChannel.end.publish(context);
    if (!isPromise(result)) return result;
    return result.then(
      (value) => {
        context.result = value;
        storeChannel.asyncStart.publish(context);
        storeChannel.asyncEnd.publish(context);
        return value;
      },
      (error: unknown) => {
        context.error = error;
        storeChannel.error.publish(context);
        storeChannel.asyncStart.publish(context);
        storeChannel.asyncEnd.publish(context);
        throw error;
      },
    );
  });
}

const STORE_OPERATIONS = ['get', 'set', 'delete', 'touch', 'replace', 'lock', 'unlock'] as const;

/**
 * The store, its operations traced on {@link CHANNELS.store} while anyone listens. Everything else
 * (close, cache stats) is the store's own, through the prototype.
 */
export function tracedStore(store: SessionStore, name: string): SessionStore {
  const wrapped = Object.create(store) as SessionStore;
  const methods = wrapped as unknown as Record<string, unknown>;
  // Every other method runs on the store itself (one with #private fields fails on another `this`).
  for (let proto: object | null = store; proto !== null && proto !== Object.prototype; ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const value = Object.getOwnPropertyDescriptor(proto, name)?.value;
      if (
        name !== 'constructor' &&
        typeof value === 'function' &&
        !(name in methods && Object.hasOwn(methods, name))
      ) {
        methods[name] = (value as (...args: unknown[]) => unknown).bind(store);
      }
    }
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  for (const operation of STORE_OPERATIONS) {
    const original = (store as unknown as Record<string, unknown>)[operation];
    if (typeof original !== 'function') continue;
    const call = original as (...args: unknown[]) => MaybePromise<unknown>;
    methods[operation] = (...args: unknown[]) =>
      storeChannel.hasSubscribers
        ? traceMaybe({ operation, store: name }, () => call.apply(store, args))
        : call.apply(store, args);
  }
  // `get` runs on every request: a wrapper of its own arity, with no rest array, for the untraced case.
  const get = store.get;
  methods.get = (id: string) =>
    storeChannel.hasSubscribers
      ? traceMaybe({ operation: 'get', store: name }, () => get.call(store, id))
      : get.call(store, id);
  return wrapped;
}

/** The audit sink of one plugin instance. */
export interface AuditTrail {
  /** Delivers an event: to the logger, the `onAuthEvent` callback and the channel. Never throws. */
  emit(body: AuthEventBody, request?: FastifyRequest): void;
}

/** Options of {@link createAuditTrail}. */
export interface AuditOptions {
  log: FastifyBaseLogger;
  /** pino level of audit lines; `false` logs none. Default `info`. */
  level: 'trace' | 'debug' | 'info' | 'warn' | false;
  onAuthEvent?: (event: AuthEvent) => void;
}

/**
 * Builds the audit trail. `onAuthEvent` runs synchronously; what it throws is swallowed (logged once
 * per plugin instance, at `error`), so that an audit hook can never break a request.
 */
export function createAuditTrail({ log, level, onAuthEvent }: AuditOptions): AuditTrail {
  let complained = false;
  return {
    emit(body, request) {
      const event: AuthEvent = { ...body, time: new Date().toISOString() };
      if (request !== undefined) {
        event.requestId = String(request.id);
        event.ip = request.ip;
      }
      // The app's logger, not the request's: a route may log at `warn` only (the callback does, to
      // keep the code out of request logs), and audit lines must not depend on it.
      if (level !== false) log[level]({ authEvent: event }, `fastify-kinde: ${event.type}`);
      if (onAuthEvent !== undefined) {
        try {
          onAuthEvent(event);
        } catch (error) {
          if (!complained) {
            complained = true;
            log.error(
              { err: error },
              'fastify-kinde: onAuthEvent threw; the error is ignored (logged only once)',
            );
          }
        }
      }
      if (authEventChannel.hasSubscribers) authEventChannel.publish(event);
    },
  };
}

/** The OIDC client with each provider call traced by endpoint. */
export function tracedOidc(oidc: OidcClient): OidcClient {
  return {
    ...oidc,
    warm: () => tracedProvider('discovery', () => oidc.warm()),
    exchangeCode: (query, checks) => tracedProvider('token', () => oidc.exchangeCode(query, checks)),
    refresh: (token) => tracedProvider('token', () => oidc.refresh(token)),
    userProfile: (token) => tracedProvider('user_profile', () => oidc.userProfile(token)),
    revoke: (token, hint) => tracedProvider('revocation', () => oidc.revoke(token, hint)),
  };
}

function refreshOutcome(error: unknown): 'provider_down' | undefined {
  // A refresh refused without asking (backoff, breaker open) is no new fact: no event for it.
  if (!(error instanceof KindeAuthError) || error.code !== 'ERR_PROVIDER_UNAVAILABLE') return undefined;
  return error.details.notAsked === undefined ? 'provider_down' : undefined;
}

/**
 * The refresher, with one `refresh` audit event and one span per flight (requests that join a flight
 * share its promise, and so its event).
 */
export function auditedRefresher(inner: SessionRefresher, audit: AuditTrail): SessionRefresher {
  const flights = new WeakMap<Promise<SessionRecord | undefined>, Promise<SessionRecord | undefined>>();
  return {
    due: (record, now) => inner.due(record, now),
    refresh(id, record, access) {
      const flight = inner.refresh(id, record, access);
      let audited = flights.get(flight);
      if (audited !== undefined) return audited;
      const userId = record.user?.id ?? null;
      const context: Record<string, unknown> = {};
      audited = traced(refreshChannel, context, () =>
        flight.then(
          (fresh) => {
            context.outcome = fresh === undefined ? 'refused' : 'ok';
            audit.emit({ type: 'refresh', outcome: fresh === undefined ? 'refused' : 'ok', userId });
            return fresh;
          },
          (error: unknown) => {
            const outcome = refreshOutcome(error);
            context.outcome = outcome ?? 'not_asked';
            if (outcome !== undefined) audit.emit({ type: 'refresh', outcome, userId });
            throw error;
          },
        ),
      );
      flights.set(flight, audited);
      return audited;
    },
  };
}
