import { createRequire } from 'node:module';
import type { Cluster, Redis } from 'ioredis';
import { type Clock, nowOf } from '../clock.js';
import { KindeAuthError } from '../errors.js';
import { type LocalCacheOptions, localCacheSettings, positiveInteger } from './local-cache.js';
import { randomId } from './record.js';
import { localCache } from './redis-cache.js';
import type { SharedSessionStore, StoreEntry } from './store.js';

/**
 * The client a Redis store talks through: an ioredis 5 `Redis` (standalone or Sentinel) or `Cluster`
 * fits as it is. Declared here by the few members the store's types name, so that this package's
 * types never import ioredis's (an optional peer dependency). Keep your own reference, typed by
 * ioredis, for other commands.
 */
export interface RedisClient {
  /** ioredis's connection status: `wait`, `connecting`, `ready`, `close`, `end`, … */
  readonly status: string;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/**
 * Options of the in-process read cache of `redisSessionStore`. Declared here, not beside the cache,
 * so that this module's types never import ioredis's.
 */
export type RedisLocalCacheOptions = LocalCacheOptions;

/** Options of {@link redisSessionStore}. */
export interface RedisSessionStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…`. Default `redis://127.0.0.1:6379`. Ignored with `client`. */
  url?: string;
  /**
   * Your own ioredis client: Sentinel, TLS, or a `Cluster`. The store does not close it. Give it
   * `enableOfflineQueue: false` and a `commandTimeout` so that an outage fails fast; the store
   * bounds its own calls by `commandTimeoutMs` either way.
   */
  client?: RedisClient;
  /** Prepended to every key and to the invalidation channel. Default `kinde:`. */
  prefix?: string;
  /**
   * An in-process read cache in front of Redis, kept exact through Redis pub/sub: every write and
   * delete publishes the id, and every instance drops its copy. While the subscription is down or
   * silent the cache is bypassed, and an entry is never served longer than `maxAgeMs` (default 2 s)
   * after it was read, which bounds staleness when invalidations are lost (failover, partition).
   * `true` for the defaults. Not with a `Cluster` client. Default off.
   */
  localCache?: RedisLocalCacheOptions | boolean;
  /** Longest wait for Redis in milliseconds; past it the call fails with `ERR_STORE_UNAVAILABLE`. Default 1,000. */
  commandTimeoutMs?: number;
  /**
   * Where entries' `expiresAt` is read from (the server owns the expiry; this converts its remaining
   * TTL to a time). Default the system clock.
   */
  clock?: Clock;
}

/** The Redis store: a {@link SharedSessionStore} on keys with `PX` TTLs, invalidated through pub/sub. */
export interface RedisSessionStore<T extends object = object> extends SharedSessionStore<T> {
  /** The ioredis client the store talks through (yours, or the one it made). */
  readonly client: RedisClient;
}

// One round trip each; the write and its invalidation message are one atomic step.
const SCRIPTS = {
  kindeStoreGet: {
    numberOfKeys: 1,
    lua: "local v = redis.call('GET', KEYS[1]) if not v then return nil end return {v, redis.call('PTTL', KEYS[1])}",
  },
  kindeStoreSet: {
    numberOfKeys: 1,
    lua: `local ok
if ARGV[3] == 'XX' then ok = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'XX')
else ok = redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[5])
if ok then return 1 end return 0`,
  },
  kindeStoreDel: {
    numberOfKeys: 1,
    lua: "local n = redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return n",
  },
  kindeStoreUnlock: {
    numberOfKeys: 1,
    lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
  },
} as const;

interface Scripted {
  kindeStoreGet(key: string): Promise<[string, number] | null>;
  kindeStoreSet(
    key: string,
    json: string,
    ttl: number,
    mode: string,
    channel: string,
    id: string,
  ): Promise<number>;
  kindeStoreDel(key: string, channel: string, id: string): Promise<number>;
  kindeStoreUnlock(key: string, token: string): Promise<number>;
}

const noop = () => {};

/** ioredis, loaded when a Redis store makes its own client: it is an optional peer dependency. */
function loadIoredis(): typeof import('ioredis') {
  try {
    return createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  } catch (cause) {
    throw new KindeAuthError(
      'ERR_CONFIG',
      'The Redis session store needs the "ioredis" package: npm install ioredis',
      {},
      { cause },
    );
  }
}

/** A client that fails fast during an outage and reconnects on its own. */
function ownClient(url: string, commandTimeoutMs: number): Redis {
  const { Redis: RedisClient } = loadIoredis();
  const client = new RedisClient(url, {
    commandTimeout: commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: Math.max(commandTimeoutMs, 2_000),
    retryStrategy: (attempt) => Math.min(attempt * 50, 500),
  });
  client.on('error', noop);
  return client;
}

/** Resolves at the client's first `ready`. */
function firstReady(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => client.once('ready', () => resolve()));
}

/**
 * Sessions in Redis (ioredis 5), shared by every instance of the app. Keys carry `prefix` and
 * expire through `PX`; `delete` is a single `DEL`, so a login attempt is consumed once across
 * instances. Every call is bounded by `commandTimeoutMs` and fails with `ERR_STORE_UNAVAILABLE`,
 * which guards answer with 503; the client reconnects by itself. With `localCache`, reads are served
 * from process memory and kept exact through pub/sub (see the README for the bound).
 *
 * @example
 * ```ts
 * app.register(fastifyKinde, {
 *   sessionStore: redisSessionStore({ url: process.env.REDIS_URL, localCache: { maxEntries: 10_000 } }),
 * });
 * // Sentinel or Cluster: bring your own client.
 * redisSessionStore({ client: new Redis({ sentinels: [{ host: 's1', port: 26379 }], name: 'main' }) });
 * ```
 */
export function redisSessionStore<T extends object = object>(
  options: RedisSessionStoreOptions = {},
): RedisSessionStore<T> {
  const prefix = options.prefix ?? 'kinde:';
  const timeoutMs = positiveInteger(options.commandTimeoutMs ?? 1_000, 'commandTimeoutMs');
  const clockNow = nowOf(options.clock);
  const localCacheOption = options.localCache === true ? {} : options.localCache || undefined;
  const cacheOptions = localCacheOption && localCacheSettings(localCacheOption);
  const client = (options.client ?? ownClient(options.url ?? 'redis://127.0.0.1:6379', timeoutMs)) as
    | Redis
    | Cluster;
  if (cacheOptions !== undefined && (client as Cluster).isCluster === true) {
    throw new TypeError('"localCache" needs a standalone or Sentinel client, not a Cluster');
  }
  for (const [name, script] of Object.entries(SCRIPTS)) client.defineCommand(name, script);
  const scripted = client as unknown as Scripted;
  const channel = `${prefix}invalidate`;

  // A client made with lazyConnect waits for its first command, but we wait for it: connect now.
  if (client.status === 'wait') client.connect().catch(noop);
  const clientReady = firstReady(client);
  // Calls made before the first connection attempt has ended wait for it (bounded); later ones go
  // straight to the client, which fails at once while disconnected.
  let connecting = client.status !== 'ready';
  const firstAttempt = new Promise<void>((resolve) => {
    if (!connecting) return resolve();
    const ended = () => {
      connecting = false;
      client.off('ready', ended);
      client.off('close', ended);
      resolve();
    };
    client.on('ready', ended);
    client.on('close', ended);
  });

  function unavailable(cause: unknown): KindeAuthError {
    if (cause instanceof KindeAuthError) return cause;
    return new KindeAuthError(
      'ERR_STORE_UNAVAILABLE',
      'The session store (Redis) is unavailable',
      {},
      { cause },
    );
  }

  /** Runs one Redis call, failing with ERR_STORE_UNAVAILABLE after `timeoutMs` at the latest. */
  function bounded<R>(work: () => Promise<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(unavailable(new Error(`no answer within ${timeoutMs} ms`)));
      }, timeoutMs);
      // A call that already failed its caller is not sent once the connection is up.
      const run = connecting ? firstAttempt.then(() => (late ? Promise.reject() : work())) : work();
      run.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(unavailable(error));
        },
      );
    });
  }

  const cache =
    cacheOptions === undefined
      ? undefined
      : localCache<T>(client as Redis, channel, timeoutMs, cacheOptions, clockNow);

  /** One read from Redis, bypassing the local cache. */
  function readShared(id: string): Promise<StoreEntry<T> | undefined> {
    return bounded(() => scripted.kindeStoreGet(prefix + id)).then((reply) => {
      if (reply === null) return undefined;
      const ttl = Number(reply[1]);
      return {
        value: JSON.parse(reply[0]) as T,
        expiresAt: ttl >= 0 ? clockNow() + ttl : Number.MAX_SAFE_INTEGER,
      };
    });
  }

  function write(id: string, value: T, ttlMs: number, mode: '' | 'XX'): Promise<boolean> {
    cache?.invalidate(id);
    const ttl = Math.ceil(ttlMs);
    if (!(ttl > 0)) return store.delete(id).then(() => false);
    const json = JSON.stringify(value);
    return bounded(() => scripted.kindeStoreSet(prefix + id, json, ttl, mode, channel, id)).then(
      (done) => done === 1,
    );
  }

  const store: RedisSessionStore<T> = {
    client,
    get cache() {
      return cache && { usable: cache.usable(), size: cache.size() };
    },
    ready() {
      return cache ? Promise.all([clientReady, cache.ready]).then(noop) : clientReady;
    },
    get(id) {
      return cache ? cache.read(id, () => readShared(id)) : readShared(id);
    },
    set(id, value, ttlMs) {
      return write(id, value, ttlMs, '').then(noop);
    },
    replace(id, value, ttlMs) {
      return write(id, value, ttlMs, 'XX');
    },
    touch(id, ttlMs) {
      const ttl = Math.max(1, Math.ceil(ttlMs));
      return bounded(() => client.pexpire(prefix + id, ttl)).then((extended) => {
        if (extended === 1) cache?.extend(id, clockNow() + ttl);
      });
    },
    delete(id) {
      cache?.invalidate(id);
      return bounded(() => scripted.kindeStoreDel(prefix + id, channel, id)).then((n) => n > 0);
    },
    lock(id, ttlMs) {
      const token = randomId();
      const ttl = Math.max(1, Math.ceil(ttlMs));
      return bounded(() => client.set(`${prefix}lock:${id}`, token, 'PX', ttl, 'NX')).then((ok) => {
        if (ok !== 'OK') return undefined;
        // Whoever held the lease wrote before giving it back: read that write, not a local copy.
        cache?.invalidate(id);
        return token;
      });
    },
    unlock(id, token) {
      return bounded(() => scripted.kindeStoreUnlock(`${prefix}lock:${id}`, token)).then(noop);
    },
    async close() {
      cache?.close();
      if (options.client !== undefined || client.status === 'end') return;
      const ended = new Promise((resolve) => client.once('end', resolve));
      client.quit().catch(noop);
      await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
      // Status changes while awaiting; disconnecting an ended client would leave a 2 s timer behind.
      if ((client.status as string) !== 'end') client.disconnect();
    },
  };
  return store;
}
