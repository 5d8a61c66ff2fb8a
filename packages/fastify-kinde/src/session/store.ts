/** A value or a promise of it: stores that answer synchronously keep the hot path free of promises. */
export type MaybePromise<T> = T | Promise<T>;

/** True when a store answered with a promise rather than a value. */
export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | undefined)?.then === 'function';
}

/** Runs `next` on a value that may or may not be a promise, without making a promise when it is not. */
export function andThen<T, R>(value: MaybePromise<T>, next: (v: T) => MaybePromise<R>): MaybePromise<R> {
  return isPromise(value) ? value.then(next) : next(value);
}

/** What a store returns for a live entry. `expiresAt` is in milliseconds since the epoch. */
export interface StoreEntry<T> {
  value: T;
  expiresAt: number;
}

/**
 * Where server-side sessions (and short-lived login attempts) live. No store knows HTTP.
 *
 * Values are plain JSON-serialisable objects and are treated as immutable: a store may hand
 * back the same object it was given, so callers replace values with `set`, never mutate them.
 * Expired entries must never be returned. All methods may answer synchronously or with a promise.
 *
 * @example
 * ```ts
 * const store = memorySessionStore<{ n: number }>({ maxEntries: 1000 });
 * await store.set('id', { n: 1 }, 60_000);
 * const entry = await store.get('id'); // { value: { n: 1 }, expiresAt: … }
 * ```
 */
export interface SessionStore<T extends object = object> {
  /** The live entry under `id`, or undefined when missing or expired. */
  get(id: string): MaybePromise<StoreEntry<T> | undefined>;
  /** Stores `value` under `id` for `ttlMs` milliseconds, replacing any previous value. */
  set(id: string, value: T, ttlMs: number): MaybePromise<void>;
  /** Extends the life of an existing entry to `ttlMs` from now; a missing entry stays missing. */
  touch(id: string, ttlMs: number): MaybePromise<void>;
  /** Removes `id`; answers true only when a live entry was removed (so a consumer can take it once). */
  delete(id: string): MaybePromise<boolean>;
  /** Releases connections, timers and file handles. */
  close?(): MaybePromise<void>;

  /**
   * Optional, for stores shared by many processes (Redis): stores `value` only over a live entry
   * and answers whether it did, so a write racing a delete (a refresh racing a logout) cannot bring
   * the entry back. Without it, callers read, then `set`.
   */
  replace?(id: string, value: T, ttlMs: number): MaybePromise<boolean>;
  /**
   * Optional, for stores shared by many processes: takes a lease on the entry `id` for `ttlMs`
   * milliseconds, across every process using the store. Answers a token when taken, undefined when
   * another holder has it. Once taken, `get(id)` reads the shared value, never a local copy.
   * The session manager uses it so that one instance refreshes a session's tokens and the others
   * wait for its stored result. Stores that only live in one process leave it out: the manager's
   * in-process single flight is enough there.
   */
  lock?(id: string, ttlMs: number): MaybePromise<string | undefined>;
  /** Gives the lease back, only when `token` still holds it. */
  unlock?(id: string, token: string): MaybePromise<void>;
}

/**
 * A store that many instances share over the network (Redis, PostgreSQL): every call but `get`
 * (which a local cache answers without a promise) answers a promise, and it has leases (`lock`/`unlock`), `replace`, a readiness check and an optional
 * in-process read cache kept exact by the server's invalidation messages.
 */
export interface SharedSessionStore<T extends object = object> extends SessionStore<T> {
  /** Whether the local cache is in use right now (its invalidation channel is up and heard from), and its size. */
  readonly cache: { readonly usable: boolean; readonly size: number } | undefined;
  /** Resolves once the server answered (and, with the cache, its invalidation channel is up); rejects when it cannot be reached. */
  ready(): Promise<void>;
  set(id: string, value: T, ttlMs: number): Promise<void>;
  touch(id: string, ttlMs: number): Promise<void>;
  delete(id: string): Promise<boolean>;
  replace(id: string, value: T, ttlMs: number): Promise<boolean>;
  lock(id: string, ttlMs: number): Promise<string | undefined>;
  unlock(id: string, token: string): Promise<void>;
  /** Stops the timers and the cache's channel; closes the client or pool only when the store made it. */
  close(): Promise<void>;
}
