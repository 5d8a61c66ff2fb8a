import type { Notification, Pool, PoolClient } from 'pg';
import { createLocalCache, type LocalCache, type LocalCacheOptions } from './local-cache.js';

/**
 * The in-process cache of the PostgreSQL store: one pooled connection held for `LISTEN`, every
 * notification on `channel` drops the id it names, a heartbeat proves the connection answers, and
 * entries older than `maxAgeMs` are fetched again. While the connection is down or silent the cache
 * is bypassed; it reconnects by itself (50 ms, growing to 500 ms between attempts).
 */
export function listenCache<T>(
  pool: Pool,
  channel: string,
  options: Required<LocalCacheOptions>,
  now: () => number = Date.now,
): LocalCache<T> {
  const { heartbeatMs } = options;
  const cache = createLocalCache<T>(options, now);
  let client: PoolClient | undefined;
  let closed = false;
  let attempts = 0;
  let pinging = false;
  let retry: NodeJS.Timeout | undefined;

  const onNotification = (message: Notification) => {
    if (message.channel === channel && message.payload !== undefined) cache.invalidate(message.payload);
  };

  /** Drops the listening connection (destroying it) and tries again after a growing delay. */
  function drop(held: PoolClient | undefined) {
    if (held !== client) return;
    cache.down();
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
    attempts = 0;
    cache.up();
  }

  // An answer proves the connection is alive; a silent one is bypassed after 2 × heartbeatMs and
  // dropped after 4 ×, which also ends a query stuck on a frozen server.
  const heartbeat = setInterval(() => {
    const held = client;
    if (!cache.isLive() || held === undefined) return;
    if (pinging) {
      if (cache.silentFor() > 4 * heartbeatMs) drop(held);
      return;
    }
    pinging = true;
    const sentAt = Date.now();
    // The channel in the text names this connection in pg_stat_activity (the tests cut it by it).
    held.query(`SELECT '${channel}' AS listening`).then(
      () => {
        pinging = false;
        if (client === held) cache.heard(sentAt);
      },
      () => drop(held),
    );
  }, heartbeatMs);
  heartbeat.unref();
  listen();

  return Object.assign(cache, {
    close() {
      closed = true;
      clearInterval(heartbeat);
      clearTimeout(retry);
      const held = client;
      client = undefined;
      cache.down();
      if (held !== undefined) {
        held.off('notification', onNotification);
        held.release(true);
      }
    },
  });
}
