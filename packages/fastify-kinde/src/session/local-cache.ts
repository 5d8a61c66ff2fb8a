import type { StoreEntry } from './store.js';

/**
 * Options of the in-process read cache of a shared store (`redisSessionStore`,
 * `postgresSessionStore`): entries are dropped by the store's invalidation channel, and served at
 * most `maxAgeMs` after the read that fetched them.
 */
export interface LocalCacheOptions {
  /** Parsed entries kept in process; the least recently used goes first. Default 10,000. */
  maxEntries?: number;
  /**
   * How often the invalidation connection is checked, in milliseconds. The cache is bypassed when no
   * answer came for twice this long (a connection that went silent). Default 500.
   */
  heartbeatMs?: number;
  /**
   * How long an entry is served after the read that fetched it, in milliseconds, even when no
   * invalidation arrived. The channel keeps the cache exact while every instance reaches the same
   * server; after a failover or a partition where heartbeats still succeed, invalidations can be
   * lost, and this bounds how long a deleted or replaced session is still served. Default 2,000.
   */
  maxAgeMs?: number;
}

/** Checks a count or a duration given in options. */
export function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`"${name}" must be a positive integer`);
  return value;
}

/** Checks the cache options and fills in the defaults. */
export function localCacheSettings(options: LocalCacheOptions): Required<LocalCacheOptions> {
  return {
    maxEntries: positiveInteger(options.maxEntries ?? 10_000, 'localCache.maxEntries'),
    heartbeatMs: positiveInteger(options.heartbeatMs ?? 500, 'localCache.heartbeatMs'),
    maxAgeMs: positiveInteger(options.maxAgeMs ?? 2_000, 'localCache.maxAgeMs'),
  };
}

/** A read in flight; `stale` once an invalidation for its id arrived after it was sent. */
interface Flight<T> {
  promise: Promise<StoreEntry<T> | undefined>;
  stale: boolean;
}

/** A cached entry and when it stops being served: `maxAgeMs` after its read was sent. */
interface Cached<T> {
  entry: StoreEntry<T>;
  staleAt: number;
}

const noop = () => {};

/**
 * The cache itself, apart from the channel that keeps it exact: the store's listener calls `up()`
 * once it listens, `down()` when it stops (everything cached is forgotten, since what was published
 * meanwhile is unknown), `heard(sentAt)` when a heartbeat sent at `sentAt` was answered (proving
 * every invalidation published before it has been read), and `invalidate(id)` for each message.
 */
export function createLocalCache<T>(options: Required<LocalCacheOptions>, now: () => number = Date.now) {
  const { maxEntries, heartbeatMs, maxAgeMs } = options;
  const entries = new Map<string, Cached<T>>();
  const reading = new Map<string, Flight<T>>();
  let live = false;
  let heardAt = 0;
  let markReady: () => void = noop;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  function down() {
    live = false;
    entries.clear();
    for (const flight of reading.values()) flight.stale = true;
    reading.clear();
  }

  function invalidate(id: string) {
    entries.delete(id);
    const flight = reading.get(id);
    if (flight !== undefined) {
      flight.stale = true;
      reading.delete(id);
    }
  }

  const usable = () => live && Date.now() - heardAt < 2 * heartbeatMs;

  /** A live, young enough cached entry, or the read already in flight for `id`; else undefined. */
  function lookup(id: string): StoreEntry<T> | Promise<StoreEntry<T> | undefined> | undefined {
    if (!usable()) return undefined;
    const hit = entries.get(id);
    if (hit !== undefined) {
      entries.delete(id);
      // Staleness is real time (how long since the read); expiry is the store's clock.
      const at = Date.now();
      if (hit.entry.expiresAt > (now === Date.now ? at : now()) && hit.staleAt > at) {
        entries.set(id, hit);
        return hit.entry;
      }
    }
    return reading.get(id)?.promise;
  }

  /**
   * Reads `id` through the cache: a hit, the read already in flight, or `fetch()`, whose answer is
   * cached unless an invalidation for `id` arrived while it was on its way (it may be that old,
   * never older: its age counts from when it was sent).
   */
  function read(
    id: string,
    fetch: () => Promise<StoreEntry<T> | undefined>,
  ): StoreEntry<T> | Promise<StoreEntry<T> | undefined> {
    const known = lookup(id);
    if (known !== undefined) return known;
    const flight: Flight<T> = { promise: undefined as never, stale: !usable() };
    const sentAt = Date.now();
    const settled = () => {
      if (reading.get(id) === flight) reading.delete(id);
    };
    flight.promise = fetch().then(
      (entry) => {
        settled();
        if (entry !== undefined && !flight.stale && live) {
          entries.set(id, { entry, staleAt: sentAt + maxAgeMs });
          if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
        }
        return entry;
      },
      (error: unknown) => {
        settled();
        throw error;
      },
    );
    if (!flight.stale) reading.set(id, flight);
    return flight.promise;
  }

  return {
    /** Settles once the channel listens for the first time. */
    ready,
    usable,
    size: () => entries.size,
    isLive: () => live,
    /** Milliseconds since the last heartbeat answered. */
    silentFor: () => Date.now() - heardAt,
    invalidate,
    read,
    /** A longer life is not a newer value: the entry keeps its age. */
    extend(id: string, expiresAt: number) {
      const hit = entries.get(id);
      if (hit !== undefined)
        entries.set(id, { entry: { value: hit.entry.value, expiresAt }, staleAt: hit.staleAt });
    },
    up() {
      down();
      live = true;
      heardAt = Date.now();
      markReady();
    },
    down,
    heard(sentAt: number) {
      if (live && sentAt > heardAt) heardAt = sentAt;
    },
  };
}

/** The cache a shared store keeps, with the listener that closes it. */
export type LocalCache<T> = ReturnType<typeof createLocalCache<T>> & { close(): void };
