import type { Redis } from 'ioredis';
import type { StoreEntry } from './store.js';

/** Options of the in-process read cache of `redisSessionStore`. */
export interface RedisLocalCacheOptions {
  /** Parsed entries kept in process; the least recently used goes first. Default 10,000. */
  maxEntries?: number;
  /**
   * How often the invalidation connection is checked with a PING, in milliseconds. The cache is
   * bypassed when no answer came for twice this long (a connection that went silent). Default 500.
   */
  heartbeatMs?: number;
  /**
   * How long an entry is served after the read that fetched it, in milliseconds. Pub/sub keeps the
   * cache exact while every instance reaches the same server; after a failover or a partition where
   * pings still succeed, invalidations can be lost, and this bounds how long a deleted or replaced
   * session is still served. Default 2,000.
   */
  maxAgeMs?: number;
}

/** A read in flight; `stale` once an invalidation for its id arrived after it was sent. */
export interface Flight<T> {
  promise: Promise<StoreEntry<T> | undefined>;
  stale: boolean;
}

/** A cached entry and when it stops being served: `maxAgeMs` after its read was sent. */
interface Cached<T> {
  entry: StoreEntry<T>;
  staleAt: number;
}

const noop = () => {};

/** Checks a count or a duration given in options. */
export function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`"${name}" must be a positive integer`);
  return value;
}

/** Checks the cache options and fills in the defaults. */
export function cacheSettings(options: RedisLocalCacheOptions): Required<RedisLocalCacheOptions> {
  return {
    maxEntries: positiveInteger(options.maxEntries ?? 10_000, 'localCache.maxEntries'),
    heartbeatMs: positiveInteger(options.heartbeatMs ?? 500, 'localCache.heartbeatMs'),
    maxAgeMs: positiveInteger(options.maxAgeMs ?? 2_000, 'localCache.maxAgeMs'),
  };
}

/** The in-process cache, its subscription to the invalidation channel, and its heartbeat. */
export function localCache<T>(
  client: Redis,
  channel: string,
  timeoutMs: number,
  options: Required<RedisLocalCacheOptions>,
) {
  const { maxEntries, heartbeatMs, maxAgeMs } = options;
  const entries = new Map<string, Cached<T>>();
  const reading = new Map<string, Flight<T>>();
  let live = false;
  let closed = false;
  let heardAt = 0;
  let markReady: () => void = noop;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  const subscriber = client.duplicate({
    lazyConnect: false,
    autoResubscribe: false,
    enableOfflineQueue: false,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    connectionName: channel,
    retryStrategy: (attempt: number) => Math.min(attempt * 50, 500),
  });
  subscriber.on('error', noop);

  /** Forget everything: what arrived while unsubscribed is unknown. */
  const down = () => {
    live = false;
    entries.clear();
    for (const flight of reading.values()) flight.stale = true;
    reading.clear();
  };
  subscriber.on('close', down);
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(
      () => {
        if (closed) return;
        down();
        live = true;
        heardAt = Date.now();
        markReady();
      },
      () => subscriber.disconnect(true),
    );
  });
  subscriber.on('message', (from: string, id: string) => {
    if (from === channel) invalidate(id);
  });

  // A PONG proves every message published before the PING has been read.
  const heartbeat = setInterval(() => {
    if (!live) return;
    const sentAt = Date.now();
    subscriber.ping().then(
      () => {
        if (live && sentAt > heardAt) heardAt = sentAt;
      },
      () => {
        if (!live) return;
        down();
        subscriber.disconnect(true);
      },
    );
  }, heartbeatMs);
  heartbeat.unref();

  const usable = () => live && Date.now() - heardAt < 2 * heartbeatMs;

  function invalidate(id: string) {
    entries.delete(id);
    const flight = reading.get(id);
    if (flight !== undefined) {
      flight.stale = true;
      reading.delete(id);
    }
  }

  return {
    ready,
    usable,
    size: () => entries.size,
    invalidate,
    /** A live cached entry, or the read already in flight for `id`; undefined when Redis must be asked. */
    lookup(id: string): StoreEntry<T> | Promise<StoreEntry<T> | undefined> | undefined {
      if (!usable()) return undefined;
      const hit = entries.get(id);
      if (hit !== undefined) {
        entries.delete(id);
        const now = Date.now();
        if (hit.entry.expiresAt > now && hit.staleAt > now) {
          entries.set(id, hit);
          return hit.entry;
        }
      }
      return reading.get(id)?.promise;
    },
    flying(id: string, flight: Flight<T>) {
      if (!flight.stale) reading.set(id, flight);
    },
    settled(id: string, flight: Flight<T>) {
      if (reading.get(id) === flight) reading.delete(id);
    },
    /** Caches what a read sent at `sentAt` answered: its answer may be that old, never older. */
    remember(id: string, entry: StoreEntry<T>, sentAt: number) {
      if (!live) return;
      entries.set(id, { entry, staleAt: sentAt + maxAgeMs });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    },
    extend(id: string, expiresAt: number) {
      // A longer life is not a newer value: the entry keeps its age.
      const hit = entries.get(id);
      if (hit !== undefined)
        entries.set(id, { entry: { value: hit.entry.value, expiresAt }, staleAt: hit.staleAt });
    },
    close() {
      closed = true;
      clearInterval(heartbeat);
      down();
      subscriber.disconnect();
    },
  };
}
