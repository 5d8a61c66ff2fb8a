import { createHash } from 'node:crypto';
import { KindeAuthError } from '../errors.js';
import type { SessionRecord } from './record.js';
import type { SessionStore, StoreEntry } from './store.js';

/** Store keys of the per-user index: `user:<sub>`. */
export const USER_PREFIX = 'user:';
/** Store keys of sessions (the same as the session manager's). */
const SESSION_KEY = 'sess:';

/** One of a user's sessions, as `sessionsOf` lists it: no id, no token, nothing that signs in. */
export interface UserSessionInfo {
  /** A stable, non-secret name of the session (a hash of its id). */
  handle: string;
  /** Milliseconds since the epoch the session started. */
  createdAt: number;
  /**
   * Milliseconds since the epoch of the last request seen, to within the idle-timeout refresh step
   * (at most a minute): the store is written at most that often on the hot path.
   */
  lastSeenAt: number;
  /** Milliseconds since the epoch the session ends unless used again. */
  expiresAt: number;
  /** The organization the session is signed in to (`org_code`), if any. */
  orgCode: string | null;
}

/** Options of {@link createUserIndex}. */
export interface UserIndexOptions {
  /** Sessions kept per user; a new one past it ends the user's oldest. Default 100. */
  maxSessionsPerUser?: number;
  /** The longest a session can live (the absolute timeout), in milliseconds: the index lives as long. */
  sessionLifetimeMs: number;
  /** The idle timeout, in milliseconds: `lastSeenAt` is derived from it. */
  idleTimeoutMs: number;
  /** Told of the records of sessions `revoke` ended (to revoke their tokens at the provider); must not throw. */
  onRevoked?(records: SessionRecord[]): void;
  /** The clock stored entries' `expiresAt` is read against. Default `Date.now`. */
  now?: () => number;
}

/** Which of a user's sessions an operation applies to. */
export type SessionFilter = (record: SessionRecord) => boolean;

/**
 * The sessions of each user (`sub`), kept in the session store itself under `user:<sub>`, so it is
 * exactly as shared, persistent and bounded as the sessions. Every operation costs one index read
 * and one store call per session of that user, never a scan.
 */
export interface UserIndex {
  /** Adds a new session to its user's index; ends it when the user was revoked while it was signing in. */
  add(sessionId: string, record: SessionRecord): Promise<void>;
  /** The user's live sessions, oldest first. */
  list(sub: string): Promise<UserSessionInfo[]>;
  /** Ends the user's sessions (those matching `filter`, or all); answers how many were live. */
  revoke(sub: string, filter?: SessionFilter): Promise<number>;
  /** Makes the user's sessions (matching `filter`) renew their tokens on their next request. */
  refreshOnNextRequest(sub: string, filter?: SessionFilter): Promise<number>;
}

interface IndexValue {
  /** `[sessionId, createdAt]`, oldest first. */
  s: [string, number][];
  /** When all of the user's sessions were last revoked: a sign-in in flight then is ended too. */
  r?: number;
}

/** A sign-in that started this long before a revocation may still be in flight (login attempts last 10 min). */
const IN_FLIGHT_MS = 15 * 60_000;
const LOCK_TTL_MS = 5_000;
const LOCK_WAIT_MS = 3_000;

/** The sub a session belongs to: the access token's, else the ID token's. */
export function subOf(record: SessionRecord): string | undefined {
  const sub = record.accessClaims.sub ?? record.idClaims.sub;
  return typeof sub === 'string' && sub !== '' ? sub : undefined;
}

/** `sub` checked: a user id is a non-empty string (an empty one would name no user, or all). */
export function subject(sub: unknown): string {
  if (typeof sub !== 'string' || sub.trim() === '' || sub.length > 256) {
    throw new KindeAuthError('ERR_BAD_REQUEST', 'A user id (sub) must be a non-empty string');
  }
  return sub;
}

/** The non-secret handle of a session id. */
export function sessionHandle(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url').slice(0, 22);
}

/** The per-user write queues of each store object in this process. */
const CHAINS = new WeakMap<SessionStore, Map<string, Promise<unknown>>>();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Builds the user index over a session store. */
export function createUserIndex(store: SessionStore, options: UserIndexOptions): UserIndex {
  const maxSessions = options.maxSessionsPerUser ?? 100;
  const now = options.now ?? Date.now;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) {
    throw new KindeAuthError('ERR_CONFIG', '"maxSessionsPerUser" must be a positive integer');
  }
  // One writer per user in this process (per store object, however many indexes use it), and, when
  // the store offers leases, one across processes.
  let chains = CHAINS.get(store);
  if (chains === undefined) {
    chains = new Map();
    CHAINS.set(store, chains);
  }

  async function lockShared(key: string): Promise<string | undefined> {
    if (store.lock === undefined) return undefined;
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      const token = await store.lock(key, LOCK_TTL_MS);
      if (token !== undefined) return token;
      if (Date.now() > deadline) {
        throw new KindeAuthError('ERR_STORE_UNAVAILABLE', 'The user index stayed locked by another instance');
      }
      await sleep(wait);
    }
  }

  function exclusive<R>(sub: string, work: (key: string) => Promise<R>): Promise<R> {
    const key = USER_PREFIX + sub;
    const run = async () => {
      const token = await lockShared(key);
      try {
        return await work(key);
      } finally {
        if (token !== undefined) await store.unlock?.(key, token);
      }
    };
    const queue = chains as Map<string, Promise<unknown>>;
    const previous = queue.get(key) ?? Promise.resolve();
    const next = previous.then(run, run);
    const settled = next.catch(() => {});
    queue.set(key, settled);
    void settled.then(() => {
      if (queue.get(key) === settled) queue.delete(key);
    });
    return next;
  }

  async function read(key: string): Promise<IndexValue> {
    const value = (await store.get(key))?.value as IndexValue | undefined;
    return { s: Array.isArray(value?.s) ? value.s : [], ...(value?.r !== undefined && { r: value.r }) };
  }

  async function write(key: string, value: IndexValue, ttlMs = options.sessionLifetimeMs): Promise<void> {
    if (value.s.length === 0 && value.r === undefined) await store.delete(key);
    else await store.set(key, value, ttlMs);
  }

  const session = async (id: string) =>
    (await store.get(SESSION_KEY + id)) as StoreEntry<SessionRecord> | undefined;

  /** The live sessions of an index, in order; ids of ended sessions are dropped. */
  async function live(value: IndexValue): Promise<[string, number, StoreEntry<SessionRecord>][]> {
    const entries = await Promise.all(value.s.map(([id]) => session(id)));
    const found: [string, number, StoreEntry<SessionRecord>][] = [];
    value.s.forEach(([id, createdAt], i) => {
      const entry = entries[i];
      if (entry !== undefined) found.push([id, createdAt, entry]);
    });
    return found;
  }

  return {
    async add(sessionId, record) {
      const sub = subOf(record);
      if (sub === undefined) return;
      const revoked = await exclusive(sub, async (key) => {
        const value = await read(key);
        // Signed in before a revocation that ran while this sign-in was in flight: it must not survive.
        if (value.r !== undefined && record.createdAt <= value.r) return true;
        value.s.push([sessionId, record.createdAt]);
        if (value.s.length > maxSessions) {
          value.s = (await live(value)).map(([id, createdAt]) => [id, createdAt]);
          while (value.s.length > maxSessions) {
            const [oldest] = value.s.shift() as [string, number];
            await store.delete(SESSION_KEY + oldest);
          }
        }
        await write(key, value);
        return false;
      });
      if (revoked) {
        await store.delete(SESSION_KEY + sessionId);
        throw new KindeAuthError(
          'ERR_NOT_AUTHENTICATED',
          'The user was signed out everywhere during sign-in',
        );
      }
    },
    async list(sub) {
      const value = await read(USER_PREFIX + sub);
      return (await live(value)).map(([id, createdAt, entry]) => ({
        handle: sessionHandle(id),
        createdAt,
        lastSeenAt: Math.max(createdAt, entry.expiresAt - options.idleTimeoutMs),
        expiresAt: entry.expiresAt,
        orgCode:
          typeof entry.value.accessClaims?.org_code === 'string' ? entry.value.accessClaims.org_code : null,
      }));
    },
    revoke(sub, filter) {
      return exclusive(sub, async (key) => {
        const value = await read(key);
        const found = await live(value);
        const ending = filter ? found.filter(([, , entry]) => filter(entry.value)) : found;
        const ended = await Promise.all(ending.map(([id]) => store.delete(SESSION_KEY + id)));
        options.onRevoked?.(ending.filter((_, i) => ended[i]).map(([, , entry]) => entry.value));
        const ends = new Set(ending.map(([id]) => id));
        value.s = found.filter(([id]) => !ends.has(id)).map(([id, createdAt]) => [id, createdAt]);
        if (filter === undefined) {
          value.r = now();
          await write(key, value, Math.max(options.sessionLifetimeMs, IN_FLIGHT_MS));
        } else await write(key, value);
        return ended.filter(Boolean).length;
      });
    },
    async refreshOnNextRequest(sub, filter) {
      const value = await read(USER_PREFIX + sub);
      let marked = 0;
      for (const [id, , entry] of await live(value)) {
        if (filter && !filter(entry.value)) continue;
        // An access token that has expired is renewed before the session is served again.
        const next: SessionRecord = { ...entry.value, accessExpiresAt: 0 };
        const ttlMs = entry.expiresAt - now();
        if (ttlMs <= 0) continue;
        if (store.replace) {
          if (await store.replace(SESSION_KEY + id, next, ttlMs)) marked++;
        } else {
          await store.set(SESSION_KEY + id, next, ttlMs);
          marked++;
        }
      }
      return marked;
    },
  };
}
