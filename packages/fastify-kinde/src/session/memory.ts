import { GenerationalCache } from '../cache.js';
import { type Clock, nowOf } from '../clock.js';
import type { SessionStore, StoreEntry } from './store.js';

/**
 * The memory store's intended scale, and the most `maxEntries` it takes: past about 100,000
 * sessions the garbage collector's work over the heap that holds them costs more than the store
 * saves (at a million sessions, 4 KB of heap each, requests ran at 0.6x of a small store), so a
 * larger application belongs in SQLite, Redis or PostgreSQL, which keep sessions off the heap.
 */
export const MEMORY_STORE_MAX_ENTRIES = 100_000;

/** Options of {@link memorySessionStore}. */
export interface MemorySessionStoreOptions {
  /**
   * The most entries kept; the least recently used is evicted past it. Default and at most
   * 100,000 ({@link MEMORY_STORE_MAX_ENTRIES}).
   */
  maxEntries?: number;
  /** Parsed values kept ready for the hottest entries. Default 10,000. */
  hotEntries?: number;
  /** Where expiry reads the time. Default the system clock. */
  clock?: Clock;
}

interface Stored {
  /** The value as JSON: one string per session keeps the heap small for the garbage collector. */
  json: string;
  expiresAt: number;
  /** When it last moved to the young end of the recency order. */
  movedAt: number;
}

/**
 * A read moves an entry to the young end at most this often. Moving it (delete, then set) on every
 * read leaves a V8 tombstone per read, and a hot session would grow its own hash chain until the
 * next rehash; recency to the second is all the eviction order needs.
 */
const MOVE_INTERVAL_MS = 1_000;

/**
 * A bounded in-process store: least-recently-used eviction past `maxEntries`, and a TTL per entry.
 * For tests, development and small single-instance apps, up to 100,000 sessions; sessions are lost
 * when the process ends.
 *
 * Values are kept as JSON strings, with the hottest ones also kept parsed: a million sessions
 * then cost the garbage collector a million strings rather than tens of millions of small objects,
 * and a hot session still costs no parse.
 *
 * @example
 * ```ts
 * app.register(fastifyKinde, { sessionStore: memorySessionStore({ maxEntries: 10_000 }) });
 * ```
 */
export function memorySessionStore<T extends object = object>(
  options: MemorySessionStoreOptions = {},
): SessionStore<T> & { readonly size: number } {
  const maxEntries = options.maxEntries ?? MEMORY_STORE_MAX_ENTRIES;
  const hotEntries = options.hotEntries ?? 10_000;
  const now = nowOf(options.clock);
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError('"maxEntries" must be a positive integer');
  }
  if (maxEntries > MEMORY_STORE_MAX_ENTRIES) {
    throw new TypeError(
      `"maxEntries" must be at most ${MEMORY_STORE_MAX_ENTRIES.toLocaleString('en')}: the memory store is meant for development, tests and small single-instance apps; use the SQLite, Redis or PostgreSQL store for more sessions`,
    );
  }
  if (!Number.isInteger(hotEntries) || hotEntries < 0)
    throw new TypeError('"hotEntries" must be a whole number');
  // A Map iterates in insertion order: re-inserting on access keeps the oldest use first.
  const entries = new Map<string, Stored>();
  const hot = new GenerationalCache<string, StoreEntry<T>>(hotEntries);

  function live(id: string, at = now()): Stored | undefined {
    const entry = entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= at) {
      entries.delete(id);
      hot.delete(id);
      return undefined;
    }
    return entry;
  }

  function remember(id: string, entry: StoreEntry<T>): StoreEntry<T> {
    if (hotEntries > 0) hot.set(id, entry);
    return entry;
  }

  return {
    get size() {
      return entries.size;
    },
    get(id) {
      const at = now();
      const stored = live(id, at);
      if (stored === undefined) return undefined;
      if (at - stored.movedAt >= MOVE_INTERVAL_MS) {
        stored.movedAt = at;
        entries.delete(id);
        entries.set(id, stored);
      }
      const parsed = hot.get(id);
      if (parsed !== undefined && parsed.expiresAt === stored.expiresAt) return parsed;
      return remember(id, { value: JSON.parse(stored.json) as T, expiresAt: stored.expiresAt });
    },
    set(id, value, ttlMs) {
      const at = now();
      const expiresAt = at + ttlMs;
      entries.delete(id);
      entries.set(id, { json: JSON.stringify(value), expiresAt, movedAt: at });
      remember(id, { value, expiresAt });
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
        hot.delete(oldest);
      }
    },
    touch(id, ttlMs) {
      const stored = live(id);
      if (stored === undefined) return;
      stored.expiresAt = now() + ttlMs;
      const parsed = hot.get(id);
      if (parsed !== undefined) hot.set(id, { value: parsed.value, expiresAt: stored.expiresAt });
    },
    delete(id) {
      const existed = live(id) !== undefined;
      entries.delete(id);
      hot.delete(id);
      return existed;
    },
    close() {
      entries.clear();
      hot.clear();
    },
  };
}
