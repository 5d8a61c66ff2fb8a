import type { Notification, Pool, PoolClient } from 'pg';
import type { StoreEntry } from './store.js';

/** Options of the in-process read cache of `postgresSessionStore`. */
export interface PostgresLocalCacheOptions {
  /** Parsed entries kept in process; the least recently used goes first. Default 10,000. */
  maxEntries?: number;
  /**
   * The longest a cached entry is served without asking PostgreSQL again, in milliseconds, even
   * when no invalidation arrived: the bound on staleness if a notification is ever lost. Default 2,000.
   */
  maxAgeMs?: number;
  /**
   * How often the listening connection is checked with a `SELECT`, in milliseconds. The cache is
   * bypassed when no answer came for twice this long (a connection that went silent). Default 500.
   */
  heartbeatMs?: number;
}

/** A read in flight; `stale` once an invalidation for its id arrived after it was sent. */
export interface PgFlight<T> {
  promise: Promise<StoreEntry<T> | undefined>;
  stale: boolean;
}

interface Cached<T> {
  entry: StoreEntry<T>;
  fetchedAt: number;
}

const noop = () => {};

/** Checks a count or a duration given in options. */
export function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`"${name}" must be a positive integer`);
  return value;
}

/** Checks the cache options and fills in the defaults. */
export function pgCacheSettings(options: PostgresLocalCacheOptions): Required<PostgresLocalCacheOptions> {
  return {
    maxEntries: positiveInteger(options.maxEntries ?? 10_000, 'localCache.maxEntries'),
    maxAgeMs: positiveInteger(options.maxAgeMs ?? 2_000, 'localCache.maxAgeMs'),
    heartbeatMs: positiveInteger(options.heartbeatMs ?? 500, 'localCache.heartbeatMs'),
  };
}

/**
 * The in-process cache of the PostgreSQL store: one pooled connection held for `LISTEN`, every
 * notification on `channel` drops the id it names, a heartbeat proves the connection answers, and
 * entries older than `maxAgeMs` are fetched again. While the connection is down or silent the cache
 * is bypassed; it reconnects by itself (50 ms, growing to 500 ms between attempts).
 */
export function listenCache<T>(pool: Pool, channel: string, options: Required<PostgresLocalCacheOptions>) {
  const { maxEntries, maxAgeMs, heartbeatMs } = options;
  const entries = new Map<string, Cached<T>>();
  const reading = new Map<string, PgFlight<T>>();
  let client: PoolClient | undefined;
  let live = false;
  let closed = false;
  let heardAt = 0;
  let attempts = 0;
  let pinging = false;
  let retry: NodeJS.Timeout | undefined;
  let markReady: () => void = noop;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  /** Forget everything: what was notified while not listening is unknown. */
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

  const onNotification = (message: Notification) => {
    if (message.channel === channel && message.payload !== undefined) invalidate(message.payload);
  };

  /** Drops the listening connection (destroying it) and tries again after a growing delay. */
  function drop(held: PoolClient | undefined) {
    if (held !== client) return;
    down();
    client = undefined;
    pinging = false;
    if (held !== undefined) {
      held.off('notification', onNotification);
      held.release(true);
    }
    if (closed) return;
    attempts += 1;
    retry = setTimeout(listen, Math.min(attempts * 50, 500));
    retry.unref();
  }

  async function listen() {
    retry = undefined;
    let held: PoolClient | undefined;
    try {
      held = await pool.connect();
    } catch {
      client = undefined;
      drop(undefined);
      return;
    }
    if (closed) return held.release(true);
    client = held;
    // Held for good, so never idle in the pool: its socket must not keep the process alive either.
    (held as unknown as { connection?: { stream?: { unref?(): void } } }).connection?.stream?.unref?.();
    held.on('error', () => drop(held));
    held.on('end', () => drop(held));
    held.on('notification', onNotification);
    try {
      await held.query(`LISTEN "${channel}"`);
    } catch {
      return drop(held);
    }
    if (closed || client !== held) return;
    down();
    attempts = 0;
    live = true;
    heardAt = Date.now();
    markReady();
  }

  // An answer proves the connection is alive; a silent one is bypassed after 2 × heartbeatMs and
  // dropped after 4 ×, which also ends a query stuck on a frozen server.
  const heartbeat = setInterval(() => {
    const held = client;
    if (!live || held === undefined) return;
    if (pinging) {
      if (Date.now() - heardAt > 4 * heartbeatMs) drop(held);
      return;
    }
    pinging = true;
    const sentAt = Date.now();
    // The channel in the text names this connection in pg_stat_activity (the tests cut it by it).
    held.query(`SELECT '${channel}' AS listening`).then(
      () => {
        pinging = false;
        if (live && client === held && sentAt > heardAt) heardAt = sentAt;
      },
      () => drop(held),
    );
  }, heartbeatMs);
  heartbeat.unref();

  const usable = () => live && Date.now() - heardAt < 2 * heartbeatMs;
  listen();

  return {
    ready,
    usable,
    size: () => entries.size,
    invalidate,
    /** A live, young enough cached entry, or the read already in flight for `id`; else undefined. */
    lookup(id: string): StoreEntry<T> | Promise<StoreEntry<T> | undefined> | undefined {
      if (!usable()) return undefined;
      const hit = entries.get(id);
      if (hit !== undefined) {
        entries.delete(id);
        const now = Date.now();
        if (hit.entry.expiresAt > now && now - hit.fetchedAt < maxAgeMs) {
          entries.set(id, hit);
          return hit.entry;
        }
      }
      return reading.get(id)?.promise;
    },
    flying(id: string, flight: PgFlight<T>) {
      if (!flight.stale) reading.set(id, flight);
    },
    settled(id: string, flight: PgFlight<T>) {
      if (reading.get(id) === flight) reading.delete(id);
    },
    /** `fetchedAt`: when the read was sent; an entry is as old as the read that fetched it. */
    remember(id: string, entry: StoreEntry<T>, fetchedAt: number) {
      if (!live) return;
      entries.set(id, { entry, fetchedAt });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    },
    extend(id: string, expiresAt: number) {
      const hit = entries.get(id);
      if (hit !== undefined)
        entries.set(id, { entry: { value: hit.entry.value, expiresAt }, fetchedAt: hit.fetchedAt });
    },
    close() {
      closed = true;
      clearInterval(heartbeat);
      clearTimeout(retry);
      const held = client;
      client = undefined;
      down();
      if (held !== undefined) {
        held.off('notification', onNotification);
        held.release(true);
      }
    },
  };
}
