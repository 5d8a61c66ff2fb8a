import type { SessionStore, StoreEntry } from './store.js';

/** Options of {@link memorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** The most entries kept; the least recently used is evicted past it. Default 100,000. */
  maxEntries?: number;
}

/**
 * A bounded in-process store: least-recently-used eviction past `maxEntries`, and a TTL per entry.
 * For tests and single-instance development; sessions are lost when the process ends.
 *
 * @example
 * ```ts
 * app.register(fastifyKinde, { sessionStore: memorySessionStore({ maxEntries: 10_000 }) });
 * ```
 */
export function memorySessionStore<T extends object = object>(
  options: MemorySessionStoreOptions = {},
): SessionStore<T> & { readonly size: number } {
  const maxEntries = options.maxEntries ?? 100_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError('"maxEntries" must be a positive integer');
  }
  // A Map iterates in insertion order: re-inserting on access keeps the oldest use first.
  const entries = new Map<string, StoreEntry<T>>();

  function live(id: string): StoreEntry<T> | undefined {
    const entry = entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      entries.delete(id);
      return undefined;
    }
    return entry;
  }

  return {
    get size() {
      return entries.size;
    },
    get(id) {
      const entry = live(id);
      if (entry !== undefined) {
        entries.delete(id);
        entries.set(id, entry);
      }
      return entry;
    },
    set(id, value, ttlMs) {
      entries.delete(id);
      entries.set(id, { value, expiresAt: Date.now() + ttlMs });
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next().value;
        if (oldest !== undefined) entries.delete(oldest);
      }
    },
    touch(id, ttlMs) {
      const entry = live(id);
      if (entry !== undefined) entry.expiresAt = Date.now() + ttlMs;
    },
    delete(id) {
      const existed = live(id) !== undefined;
      entries.delete(id);
      return existed;
    },
    close() {
      entries.clear();
    },
  };
}
