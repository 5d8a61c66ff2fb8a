import type { Redis } from 'ioredis';
import { createLocalCache, type LocalCache, type LocalCacheOptions } from './local-cache.js';

const noop = () => {};

/**
 * The in-process cache of the Redis store, kept exact by a subscription to the invalidation channel
 * (each message names an id to drop) and a PING heartbeat: a PONG proves every message published
 * before the PING has been read.
 */
export function localCache<T>(
  client: Redis,
  channel: string,
  timeoutMs: number,
  options: Required<LocalCacheOptions>,
  now: () => number = Date.now,
): LocalCache<T> {
  const cache = createLocalCache<T>(options, now);
  let closed = false;
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
  subscriber.on('close', cache.down);
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(
      () => {
        if (!closed) cache.up();
      },
      () => subscriber.disconnect(true),
    );
  });
  subscriber.on('message', (from: string, id: string) => {
    if (from === channel) cache.invalidate(id);
  });

  const heartbeat = setInterval(() => {
    if (!cache.isLive()) return;
    const sentAt = Date.now();
    subscriber.ping().then(
      () => cache.heard(sentAt),
      () => {
        if (!cache.isLive()) return;
        cache.down();
        subscriber.disconnect(true);
      },
    );
  }, options.heartbeatMs);
  heartbeat.unref();

  return Object.assign(cache, {
    close() {
      closed = true;
      clearInterval(heartbeat);
      cache.down();
      subscriber.disconnect();
    },
  });
}
