import type { FastifyInstance, FastifyReply } from 'fastify';
import * as joseErrors from 'jose/errors';
import { jwtVerify } from 'jose/jwt/verify';
import { GenerationalCache } from './cache.js';
import { KindeAuthError } from './errors.js';
import { createJwksCache } from './jwks.js';
import type { SessionRecord } from './session/record.js';
import type { SessionStore } from './session/store.js';
import type { SessionFilter, UserIndex, UserSessionInfo } from './session/user-index.js';

/** A verified Kinde webhook event (the JWT's payload). */
export interface KindeWebhookEvent {
  type: string;
  event_id: string;
  data: Record<string, unknown>;
  /** ISO 8601, when the event happened. */
  event_timestamp?: string;
  timestamp?: string;
  source?: string;
  [claim: string]: unknown;
}

/** What a reaction may do to sessions. Each call costs in proportion to that user's sessions. */
export interface WebhookActions {
  /** Ends the user's sessions (those matching `filter`, or all); answers how many ended. */
  revokeUser(sub: string, filter?: SessionFilter): Promise<number>;
  /** Makes the user's sessions (matching `filter`) renew their tokens on their next request. */
  refreshUser(sub: string, filter?: SessionFilter): Promise<number>;
  /** The user's sessions. */
  sessionsOf(sub: string): Promise<UserSessionInfo[]>;
}

/** Reacts to one verified event. A rejection answers 503, so that Kinde sends the event again. */
export type WebhookReaction = (event: KindeWebhookEvent, actions: WebhookActions) => unknown;

/** The `webhooks` option. */
export interface KindeWebhookOptions {
  /** Where Kinde POSTs events, e.g. `/api/auth/webhooks`. */
  path: string;
  /**
   * Events older than this (by `timestamp`) are refused as expired; an event id is remembered as
   * long. Default 2 hours (Kinde retries a failed delivery for about 73 minutes).
   */
  maxAgeMs?: number;
  /** Per event type: a reaction replacing the default one, or `false` for none. */
  on?: Record<string, WebhookReaction | false>;
  /** Called for every verified, first-seen event, after the reaction of its type. */
  onEvent?: WebhookReaction;
  /** Event ids remembered in this process (the store remembers them across instances). Default 10,000. */
  seenEntries?: number;
}

interface WebhookDeps {
  issuerUrl: string;
  jwksUri: () => Promise<URL>;
  store: SessionStore;
  users: UserIndex;
  /** The clock (milliseconds) events' age is measured by. Default `Date.now`. */
  now?: () => number;
}

/** Store keys of seen event ids: `whk:<event_id>`. */
const SEEN_PREFIX = 'whk:';
const EVENT_ID = /^[A-Za-z0-9_.-]{1,128}$/;
/** A timestamp this far in the future is a clock skew we accept; further is refused. */
const FUTURE_SKEW_MS = 5 * 60_000;

type UserData = { id?: unknown; is_suspended?: unknown; organizations?: unknown };

const orgOf = (record: SessionRecord) =>
  typeof record.accessClaims.org_code === 'string' ? record.accessClaims.org_code : null;

function userOf(event: KindeWebhookEvent): UserData | undefined {
  const user = event.data.user as UserData | undefined;
  return typeof user === 'object' && user !== null && typeof user.id === 'string' ? user : undefined;
}

/**
 * The default reactions. `user.deleted` and a suspended `user.updated` end every session of the
 * user. Kinde reports membership, role and permission changes as a `user.updated` whose
 * `organizations` show the user as the change left them: sessions signed in to an organization
 * the user is no longer in end, and the others renew their tokens on their next request.
 */
export const defaultWebhookReactions: Readonly<Record<string, WebhookReaction>> = {
  async 'user.deleted'(event, actions) {
    const user = userOf(event);
    if (user) await actions.revokeUser(user.id as string);
  },
  async 'user.updated'(event, actions) {
    const user = userOf(event);
    if (!user) return;
    const sub = user.id as string;
    if (user.is_suspended === true) {
      await actions.revokeUser(sub);
      return;
    }
    if (Array.isArray(user.organizations)) {
      const codes = new Set(user.organizations.map((o) => (o as { code?: unknown })?.code));
      await actions.revokeUser(sub, (record) => {
        const org = orgOf(record);
        return org !== null && !codes.has(org);
      });
    }
    await actions.refreshUser(sub);
  },
};

function refuse(reply: FastifyReply, status: number, message: string) {
  const code =
    status === 409 ? 'ERR_WEBHOOK_REPLAYED' : status === 503 ? 'ERR_WEBHOOK_RETRY' : 'ERR_WEBHOOK_REFUSED';
  // The reason only, never the token: a refused event is worth a look (a forger, a clock, a replay).
  if (status < 500) reply.log.warn({ code, reason: message }, 'fastify-kinde: webhook event refused');
  return reply.code(status).header('cache-control', 'no-store').send({ statusCode: status, code, message });
}

function whyRefused(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the event has expired';
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'the event is not signed with RS256';
  if (error instanceof joseErrors.JWKSNoMatchingKey)
    return "the event is not signed with one of the issuer's keys";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the "${error.claim}" claim is invalid`;
  return 'the event is not a valid signed JWT';
}

/** Why a verified payload is not an acceptable event now (the status and the reason), or undefined. */
function eventProblem(
  payload: Record<string, unknown>,
  issuerUrl: string,
  maxAgeMs: number,
  now: number,
): [status: 400 | 401, reason: string] | undefined {
  if (payload.iss !== undefined && payload.iss !== issuerUrl)
    return [401, 'the event was issued by another issuer'];
  if (typeof payload.type !== 'string' || payload.type === '') return [400, 'the event has no type'];
  if (typeof payload.event_id !== 'string' || !EVENT_ID.test(payload.event_id)) {
    return [400, 'the event has no valid event_id'];
  }
  if (typeof payload.data !== 'object' || payload.data === null) return [400, 'the event has no data'];
  const at = Date.parse(String(payload.timestamp ?? payload.event_timestamp));
  if (Number.isNaN(at)) return [400, 'the event has no valid timestamp'];
  if (at < now - maxAgeMs) return [401, 'the event has expired'];
  if (at > now + FUTURE_SKEW_MS) return [400, 'the event is dated in the future'];
  return undefined;
}

/**
 * Registers the webhook route: verifies the event (RS256 with the issuer's JWKS, cached, and the
 * issuer when named), refuses an expired or already seen event, then reacts before answering 200:
 * a reaction that fails answers 503 and forgets the event id, so Kinde's retry is the queue and no
 * work is lost after a 200.
 */
export function registerWebhooks(
  app: FastifyInstance,
  options: KindeWebhookOptions,
  deps: WebhookDeps,
): void {
  if (typeof options.path !== 'string' || !options.path.startsWith('/')) {
    throw new KindeAuthError('ERR_CONFIG', '"webhooks.path" must be a path starting with "/"');
  }
  const maxAgeMs = options.maxAgeMs ?? 2 * 60 * 60_000;
  const seen = new GenerationalCache<string, true>(options.seenEntries ?? 10_000);
  const { store, users } = deps;
  const now = deps.now ?? Date.now;
  const jwks = createJwksCache(deps.jwksUri, { now });
  const actions: WebhookActions = {
    revokeUser: (sub, filter) => users.revoke(sub, filter),
    refreshUser: (sub, filter) => users.refreshOnNextRequest(sub, filter),
    sessionsOf: (sub) => users.list(sub),
  };

  /** Takes the event id once, across instances when the store offers leases; a release token, or undefined when seen. */
  async function claim(id: string): Promise<(() => Promise<void>) | undefined> {
    if (seen.get(id)) return undefined;
    seen.set(id, true);
    const key = SEEN_PREFIX + id;
    if (store.lock) {
      const token = await store.lock(key, maxAgeMs);
      if (token === undefined) return undefined;
      return async () => {
        seen.delete(id);
        await store.unlock?.(key, token);
      };
    }
    if ((await store.get(key)) !== undefined) return undefined;
    await store.set(key, { at: now() }, maxAgeMs);
    return async () => {
      seen.delete(id);
      await store.delete(key);
    };
  }

  async function react(event: KindeWebhookEvent): Promise<void> {
    const own = options.on?.[event.type];
    const reaction = own === undefined ? defaultWebhookReactions[event.type] : own || undefined;
    await reaction?.(event, actions);
    await options.onEvent?.(event, actions);
  }

  app.register(async (scope) => {
    scope.addContentTypeParser(
      'application/jwt',
      { parseAs: 'string', bodyLimit: 64 * 1024 },
      (_req, body, done) => done(null, body),
    );
    scope.post(options.path, async (request, reply) => {
      const token = typeof request.body === 'string' ? request.body.trim() : '';
      if (token === '')
        return refuse(reply, 400, 'the body must be the event JWT (content-type: application/jwt)');
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await jwtVerify(token, (header) => jwks.getKey(header), {
          algorithms: ['RS256'],
          clockTolerance: 5,
          ...(now !== Date.now && { currentDate: new Date(now()) }),
        }));
      } catch (error) {
        if (error instanceof KindeAuthError && error.code === 'ERR_PROVIDER_UNAVAILABLE') {
          return refuse(reply, 503, "the issuer's signing keys could not be fetched; send it again later");
        }
        return refuse(reply, 401, whyRefused(error));
      }
      const problem = eventProblem(payload, deps.issuerUrl, maxAgeMs, now());
      if (problem !== undefined) return refuse(reply, ...problem);
      const event = payload as KindeWebhookEvent;
      let release: (() => Promise<void>) | undefined;
      try {
        release = await claim(event.event_id);
      } catch {
        seen.delete(event.event_id);
        return refuse(reply, 503, 'the session store is unavailable; send it again later');
      }
      if (release === undefined) return refuse(reply, 409, 'the event was already received (event_id seen)');
      try {
        await react(event);
      } catch (error) {
        await release().catch(() => {});
        request.log.error(
          { code: (error as { code?: string }).code, eventType: event.type, eventId: event.event_id },
          'fastify-kinde: a webhook reaction failed; Kinde will send the event again',
        );
        return refuse(reply, 503, 'the event could not be handled now; send it again later');
      }
      request.log.info(
        { eventType: event.type, eventId: event.event_id },
        'fastify-kinde: webhook event handled',
      );
      return reply.code(200).header('cache-control', 'no-store').send({ received: true });
    });
  });
}
