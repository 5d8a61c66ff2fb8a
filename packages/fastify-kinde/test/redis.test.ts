import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { freePort, HttpClient, login, within } from 'test-kit';
import { resolveConfig } from '../src/config.js';
import { type RedisSessionStore, redisSessionStore } from '../src/index.js';
import { REDIS_URL, redisMissing, removeKeys, testPrefix } from './redis-kit.js';
import { type Rig, startRig } from './setup.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const skip = await redisMissing();

const refreshCount = (rig: Rig) =>
  rig.emulator.requests.filter((r) => r.grantType === 'refresh_token').length;

const isPromise = (value: unknown) => typeof (value as Promise<unknown> | undefined)?.then === 'function';

/** Polls `check` on every turn of the event loop until it holds; answers the milliseconds it took. */
/** Reads `id` until the local cache answers it (the write's own invalidation message has come by). */
function untilCached(store: RedisSessionStore, id: string): Promise<number> {
  return within(1_000, async () => {
    const answer = store.get(id);
    if (!isPromise(answer)) return true;
    await answer;
    return false;
  });
}

describe('Redis session store', () => {
  const prefixes: string[] = [];
  const stores: RedisSessionStore[] = [];
  const open = (options: Parameters<typeof redisSessionStore>[0] = {}) => {
    const prefix = options.prefix ?? testPrefix('store');
    prefixes.push(prefix);
    const store = redisSessionStore<{ n: number }>({ url: REDIS_URL, ...options, prefix });
    stores.push(store);
    return store;
  };
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    for (const prefix of prefixes) await removeKeys(prefix);
  });

  test('stores with a TTL, touches, replaces, deletes once, and keeps to its prefix', { skip }, async () => {
    const store = open();
    assert.equal(store.client.status, 'connecting');
    assert.equal(await store.get('a'), undefined, 'a call made while connecting waits for the connection');
    await store.set('a', { n: 1 }, 60_000);
    const entry = await store.get('a');
    assert.deepEqual(entry?.value, { n: 1 });
    assert.ok(entry.expiresAt > Date.now() + 59_000 && entry.expiresAt <= Date.now() + 60_000);
    await store.touch('a', 120_000);
    assert.ok((await store.get('a'))!.expiresAt > Date.now() + 119_000, 'touch extends the TTL');
    await store.touch('missing', 1_000);
    assert.equal(await store.get('missing'), undefined, 'touch does not create');

    await store.set('short', { n: 2 }, 40);
    await sleep(60);
    assert.equal(await store.get('short'), undefined, 'expired entries are never returned');
    assert.equal(await store.delete('short'), false, 'an expired entry is not a live one');

    assert.equal(await store.replace('nobody', { n: 3 }, 1_000), false);
    assert.equal(await store.get('nobody'), undefined, 'replace does not create');
    assert.equal(await store.replace('a', { n: 4 }, 60_000), true);
    assert.deepEqual((await store.get('a'))?.value, { n: 4 });

    const other = open();
    assert.equal(await other.get('a'), undefined, 'another prefix sees nothing');

    // A login attempt is taken once, however many instances try at the same moment.
    await store.set('login:x', { n: 5 }, 60_000);
    const peer = open({ prefix: prefixes[0] });
    const takes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? store : peer).delete('login:x')),
    );
    assert.equal(takes.filter(Boolean).length, 1);
  });

  test('a lease is held by one taker until given back or expired', { skip }, async () => {
    const store = open();
    const peer = open({ prefix: prefixes.at(-1) });
    const token = await store.lock('sess:1', 5_000);
    assert.ok(token);
    assert.equal(await peer.lock('sess:1', 5_000), undefined);
    await peer.unlock('sess:1', 'not-the-token');
    assert.equal(await peer.lock('sess:1', 5_000), undefined, 'a wrong token does not release');
    await store.unlock('sess:1', token);
    const second = await peer.lock('sess:1', 50);
    assert.ok(second);
    await sleep(80);
    assert.ok(await store.lock('sess:1', 50), 'an expired lease can be taken');
  });

  test('an unreachable Redis fails fast with ERR_STORE_UNAVAILABLE', async () => {
    const store = redisSessionStore({ url: `redis://127.0.0.1:${await freePort()}`, commandTimeoutMs: 200 });
    try {
      const started = performance.now();
      await assert.rejects(Promise.resolve(store.get('x')), {
        code: 'ERR_STORE_UNAVAILABLE',
        statusCode: 503,
      });
      await assert.rejects(store.set('x', {}, 1_000), { code: 'ERR_STORE_UNAVAILABLE' });
      assert.ok(performance.now() - started < 600, 'within the command timeout');
    } finally {
      await store.close?.();
    }
    assert.throws(
      () => redisSessionStore({ commandTimeoutMs: 0 }),
      /"commandTimeoutMs" must be a positive integer/,
    );
    assert.throws(
      () => redisSessionStore({ localCache: { maxEntries: 0 } }),
      /"localCache.maxEntries" must be a positive integer/,
    );
    assert.throws(
      () => redisSessionStore({ localCache: { maxAgeMs: 0.5 } }),
      /"localCache.maxAgeMs" must be a positive integer/,
    );
  });

  test('the local cache answers without Redis and is invalidated across instances within 100 ms', {
    skip,
  }, async (t) => {
    const a = open({ localCache: true });
    const b = open({ prefix: prefixes.at(-1), localCache: { maxEntries: 100 } });
    await Promise.all([a.ready(), b.ready()]);
    const bounds: number[] = [];
    for (let i = 0; i < 20; i++) {
      await a.set('sess:s', { n: i }, 60_000);
      // The write's own invalidation message may land after b's first read: read until cached.
      await within(100, async () => {
        const seen = (await b.get('sess:s'))?.value as { n: number } | undefined;
        return seen?.n === i && !isPromise(b.get('sess:s'));
      });
      const hit = b.get('sess:s');
      assert.ok(!isPromise(hit), 'a cached read makes no promise');
      assert.deepEqual((hit as { value: unknown }).value, { n: i });
      if (i % 2 === 0) {
        await a.delete('sess:s');
        bounds.push(await within(100, () => isPromise(b.get('sess:s'))));
        assert.equal(await b.get('sess:s'), undefined);
      } else {
        await a.set('sess:s', { n: -i }, 60_000);
        bounds.push(await within(100, () => isPromise(b.get('sess:s'))));
        assert.deepEqual((await b.get('sess:s'))?.value, { n: -i });
      }
    }
    t.diagnostic(`invalidation reached the other instance in at most ${Math.max(...bounds).toFixed(2)} ms`);
    assert.equal(b.cache?.usable, true);
    for (let i = 0; i < 150; i++) await a.set(`sess:${i}`, { n: i }, 60_000);
    for (let i = 0; i < 150; i++) await b.get(`sess:${i}`);
    assert.ok(b.cache!.size <= 100, 'the cache keeps to maxEntries');
  });

  test('while its subscription is down the cache is bypassed, and it is emptied when resubscribed', {
    skip,
  }, async () => {
    const a = open();
    const b = open({ prefix: prefixes.at(-1), localCache: { heartbeatMs: 250 } });
    await b.ready();
    await a.set('sess:k', { n: 1 }, 60_000);
    // Cached once the write's own invalidation message has come by.
    await untilCached(b, 'sess:k');

    // Cut the invalidation connection of b (and only it) from the server side. The store's client
    // is typed by the few members its types name; the commands are ioredis's.
    const redis = a.client as Redis;
    const list = (await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
    const ours = list.split('\n').filter((line) => line.includes(` name=${prefixes.at(-1)}invalidate `));
    assert.equal(ours.length, 1);
    const id = /\bid=(\d+)/.exec(ours[0]!)![1]!;
    await redis.call('CLIENT', 'KILL', 'ID', id);
    await within(1_000, () => b.cache?.usable === false);
    await a.set('sess:k', { n: 2 }, 60_000); // b misses this message
    assert.deepEqual((await b.get('sess:k'))?.value, { n: 2 }, 'no stale entry while unsubscribed');
    await within(2_000, () => b.cache?.usable === true);
    assert.deepEqual((await b.get('sess:k'))?.value, { n: 2 });
    await untilCached(b, 'sess:k');
    assert.deepEqual(
      (b.get('sess:k') as { value: unknown }).value,
      { n: 2 },
      'cached again once resubscribed',
    );
  });
});

describe('many instances on one Redis', () => {
  const rigs: Rig[] = [];
  const prefixes: string[] = [];
  const stores: RedisSessionStore[] = [];
  after(async () => {
    for (const rig of rigs.reverse()) await rig.close();
    await Promise.all(stores.map((store) => store.close()));
    for (const prefix of prefixes) await removeKeys(prefix);
  });

  /** Two apps on two ports, one emulator, one Redis prefix; each app has its own store and cache. */
  async function pair(emulator: NonNullable<Parameters<typeof startRig>[0]>['emulator'] = {}) {
    const prefix = testPrefix('pair');
    prefixes.push(prefix);
    const store = () => {
      const made = redisSessionStore({ url: REDIS_URL, prefix, localCache: true });
      stores.push(made);
      return made;
    };
    const a = await startRig({ emulator, kinde: { sessionStore: store() } });
    rigs.push(a);
    const b = await startRig({ sharedEmulator: a.emulator, kinde: { sessionStore: store() } });
    rigs.push(b);
    await Promise.all([a, b].map((rig) => (rig.app.kinde.store as RedisSessionStore).ready()));
    return { a, b };
  }

  test('login on A, use on B, logout on B: A refuses the session within 100 ms', { skip }, async (t) => {
    const { a, b } = await pair();
    const bounds: number[] = [];
    for (let i = 0; i < 5; i++) {
      const client = new HttpClient();
      await login(client, a.appUrl, 'admin@example.test');
      const cookie = `kinde_session=${client.cookies(a.appUrl).get('kinde_session')}`;
      assert.equal((await client.request(`${b.appUrl}/`)).status, 200, 'B sees the session made on A');
      assert.equal((await client.request(`${a.appUrl}/`)).status, 200);
      assert.equal((await client.request(`${a.appUrl}/`)).status, 200, 'served from the cache of A');
      const logout = await client.request(`${b.appUrl}/api/auth/logout`);
      assert.equal(logout.status, 302);
      bounds.push(
        await within(100, async () => (await fetch(`${a.appUrl}/`, { headers: { cookie } })).status === 401),
      );
    }
    t.diagnostic(`A refused the session at most ${Math.max(...bounds).toFixed(1)} ms after B's logout`);
  });

  test('50 concurrent requests with an expiring token over both instances: all 200, one refresh', {
    skip,
  }, async () => {
    // Tokens live 7 s; a session refreshes within 5 s of expiry. No grace window: a second refresh
    // with the rotated refresh token would be refused and end the session.
    const { a, b } = await pair({ accessTokenTtl: 7, refreshGraceSeconds: 0 });
    const client = new HttpClient();
    await login(client, a.appUrl, 'admin@example.test');
    const cookie = `kinde_session=${client.cookies(a.appUrl).get('kinde_session')}`;
    const token = async (rig: Rig) =>
      JSON.parse(await (await fetch(`${rig.appUrl}/whoami`, { headers: { cookie } })).text()).token;
    const before = await token(b);
    const refreshes = refreshCount(a);
    // The token is inside the refresh window: for both instances and the emulator they share.
    a.advance(2_500);
    b.clock.advance(2_500);
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => fetch(`${(i % 2 ? a : b).appUrl}/`, { headers: { cookie } })),
    );
    assert.deepEqual(
      answers.map((r) => r.status),
      Array(50).fill(200),
    );
    assert.equal(refreshCount(a), refreshes + 1, 'one refresh_token grant at the provider');
    const [fromA, fromB] = await Promise.all([token(a), token(b)]);
    assert.notEqual(fromA, before);
    assert.equal(fromA, fromB, 'both instances use the one stored result');
    assert.equal(refreshCount(a), refreshes + 1);
  });

  test('SESSION_STORE=redis builds the store, closes it with the app, and drains in-flight requests', {
    skip,
  }, async () => {
    const prefix = testPrefix('env');
    prefixes.push(prefix);
    const rig = await startRig({
      kinde: {
        env: { SESSION_STORE: 'redis', REDIS_URL, REDIS_KEY_PREFIX: prefix, REDIS_LOCAL_CACHE: '100' },
        sessionStore: undefined,
        closeIdleConnections: true,
      },
      routes: (app) => {
        app.get('/slow', { config: { kinde: true } }, async () => {
          await sleep(300);
          return { seen: (await app.kinde.store.get('nothing')) === undefined };
        });
      },
    });
    // Closed by the test; also by `after` when an assertion fails first: its Redis connections
    // would otherwise keep the test process alive after its last test.
    rigs.push(rig);
    const store = rig.app.kinde.store as RedisSessionStore;
    assert.equal(typeof store.lock, 'function');
    await store.ready();
    assert.equal(store.cache?.usable, true);
    const client = new HttpClient();
    await login(client, rig.appUrl, 'admin@example.test');
    assert.equal((await client.request(`${rig.appUrl}/`)).status, 200);
    const slow = client.request(`${rig.appUrl}/slow`);
    await sleep(50);
    await rig.close();
    const answer = await slow;
    assert.equal(answer.status, 200, 'the in-flight request finished');
    assert.equal(answer.body, '{"seen":true}');
    assert.equal(store.client.status, 'end', 'the store it made is closed with the app');
  });

  test('REDIS_URL and REDIS_LOCAL_CACHE are checked at start-up', () => {
    const base = { issuerUrl: 'http://127.0.0.1:1', clientId: 'c', siteUrl: 'http://127.0.0.1:2' };
    const config = resolveConfig({ ...base, env: { SESSION_STORE: 'redis' } });
    assert.deepEqual(config.store, {
      kind: 'redis',
      url: 'redis://127.0.0.1:6379',
      prefix: 'kinde:',
      localCacheEntries: 0,
      localCacheMaxAgeMs: 2_000,
    });
    const tuned = resolveConfig({
      ...base,
      env: { SESSION_STORE: 'redis', REDIS_LOCAL_CACHE_MAX_AGE_MS: '500' },
    });
    assert.equal((tuned.store as { localCacheMaxAgeMs: number }).localCacheMaxAgeMs, 500);
    assert.throws(
      () => resolveConfig({ ...base, env: { SESSION_STORE: 'redis', REDIS_LOCAL_CACHE_MAX_AGE_MS: '0' } }),
      /REDIS_LOCAL_CACHE_MAX_AGE_MS must be a positive whole number/,
    );
    assert.throws(
      () => resolveConfig({ ...base, env: { SESSION_STORE: 'redis', REDIS_URL: 'http://cache:6379' } }),
      /REDIS_URL must start with redis:\/\/ or rediss:\/\//,
    );
    assert.throws(
      () => resolveConfig({ ...base, env: { SESSION_STORE: 'redis', REDIS_URL: 'not a url' } }),
      /REDIS_URL must be a URL/,
    );
    assert.throws(
      () => resolveConfig({ ...base, env: { SESSION_STORE: 'redis', REDIS_LOCAL_CACHE: 'lots' } }),
      /REDIS_LOCAL_CACHE must be a whole number/,
    );
    assert.throws(
      () => resolveConfig({ ...base, env: { SESSION_STORE: 'valkey' } }),
      /must be "sqlite", "memory" or "redis"/,
    );
  });
});
