/**
 * The Redis local cache when invalidations are lost but the subscription still looks healthy (a
 * failover, a partition where pings still succeed): entries are served at most `maxAgeMs` after
 * they were read.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { HttpClient, login, within } from 'test-kit';
import { type RedisSessionStore, redisSessionStore } from '../src/index.js';
import { REDIS_URL, redisMissing, removeKeys, testPrefix } from './redis-kit.js';
import { type Rig, startRig } from './setup.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const PING = /\*1\r\n\$4\r\nping\r\n/gi;
/** What Redis answers a PING on a subscribed connection. */
const SUBSCRIBED_PONG = '*2\r\n$4\r\npong\r\n$0\r\n\r\n';

/**
 * A TCP relay in front of Redis. `cut()` closes the upstream side of every subscribed connection
 * (Redis drops the subscription, so published invalidations no longer arrive) while the relay
 * keeps answering the subscriber's PINGs itself: a partition where pings still succeed.
 */
class Relay {
  private readonly server: Server;
  private readonly links: { client: Socket; upstream: Socket; subscribed: boolean; cut: boolean }[] = [];

  constructor(private readonly target: URL) {
    this.server = createServer((client) => this.link(client));
  }

  get url(): string {
    const address = this.server.address();
    return `redis://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  private link(client: Socket): void {
    const upstream = connect(Number(this.target.port || 6379), this.target.hostname);
    const link = { client, upstream, subscribed: false, cut: false };
    this.links.push(link);
    client.on('data', (data: Buffer) => {
      const text = data.toString('latin1');
      if (!link.cut) {
        if (/subscribe/i.test(text)) link.subscribed = true;
        upstream.write(data);
        return;
      }
      for (const _ of text.matchAll(PING)) client.write(SUBSCRIBED_PONG);
    });
    upstream.on('data', (data: Buffer) => {
      if (!link.cut) client.write(data);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    client.on('close', end);
    upstream.on('error', () => {
      if (!link.cut) end();
    });
    upstream.on('close', () => {
      if (!link.cut) end();
    });
  }

  /** Subscribed connections still linked to Redis (a resubscription after a cut would be one). */
  liveSubscriptions(): number {
    return this.links.filter((l) => l.subscribed && !l.cut && !l.client.destroyed).length;
  }

  /** Cuts every subscribed connection from Redis; answers how many. */
  cut(): number {
    const subscribed = this.links.filter((l) => l.subscribed && !l.client.destroyed);
    for (const link of subscribed) {
      link.cut = true;
      link.upstream.destroy();
    }
    return subscribed.length;
  }

  async close(): Promise<void> {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const skip = await redisMissing();

describe('Redis local cache: maximum age', () => {
  const prefix = testPrefix('cache-age');
  const stores: RedisSessionStore[] = [];
  const rigs: Rig[] = [];
  let relay: Relay | undefined;

  before(async () => {
    if (skip) return;
    relay = new Relay(new URL(REDIS_URL));
    await relay.listen();
  });
  after(async () => {
    for (const rig of rigs) await rig.close();
    await Promise.all(stores.map((s) => s.close()));
    await relay?.close();
    if (!skip) await removeKeys(prefix);
  });

  test('an entry changed past the store is read again once it is maxAgeMs old', { skip }, async () => {
    const store = redisSessionStore<{ n: number }>({ url: REDIS_URL, prefix, localCache: { maxAgeMs: 300 } });
    stores.push(store as RedisSessionStore);
    await store.ready();
    await store.set('age', { n: 1 }, 60_000);
    // Read until the cache holds it (the write's own invalidation message has come by).
    let readAt = 0;
    for (let i = 0; i < 100; i++) {
      readAt = Date.now();
      const answer = store.get('age');
      if (typeof (answer as Promise<unknown>).then !== 'function') break;
      await answer;
      await sleep(5);
    }
    // Another writer whose invalidation never arrives.
    const raw = new Redis(REDIS_URL);
    await raw.set(`${prefix}age`, JSON.stringify({ n: 2 }), 'PX', 60_000);
    raw.disconnect();
    const cached = store.get('age');
    assert.equal(typeof (cached as Promise<unknown>).then, 'undefined', 'served from the cache');
    if (Date.now() - readAt < 250) assert.equal((await cached)?.value.n, 1, 'stale, within its age');
    await sleep(350 - (Date.now() - readAt));
    assert.equal((await store.get('age'))?.value.n, 2, 'read again past its age');
  });

  test('a logout elsewhere with the subscription cut (pings still answered) stops being served within maxAgeMs', {
    skip,
  }, async (t) => {
    const maxAgeMs = 1_000;
    const cached = redisSessionStore({
      url: relay!.url,
      prefix,
      localCache: { heartbeatMs: 100, maxAgeMs },
    });
    const direct = redisSessionStore({ url: REDIS_URL, prefix });
    stores.push(cached, direct);
    const a = await startRig({ kinde: { sessionStore: cached } });
    rigs.push(a);
    const b = await startRig({ kinde: { sessionStore: direct }, sharedEmulator: a.emulator });
    rigs.push(b);
    await cached.ready();
    const client = new HttpClient();
    await login(client, a.appUrl, 'admin@example.test');
    const cookie = `kinde_session=${client.cookies(a.appUrl).get('kinde_session')}`;

    // Requests to instance A and writes through instance B's store, all the while.
    const results: { at: number; status: number }[] = [];
    let stopped = false;
    const traffic = (async () => {
      while (!stopped && results.length < 5_000) {
        const at = Date.now();
        const response = await fetch(`${a.appUrl}/`, {
          headers: { cookie },
          signal: AbortSignal.timeout(5_000),
        });
        results.push({ at, status: response.status });
        await sleep(5);
      }
    })();
    const writes = (async () => {
      for (let i = 0; !stopped && i < 5_000; i++) {
        await direct.set(`other:${i % 20}`, { i }, 60_000);
        await sleep(10);
      }
    })();
    try {
      await sleep(200);
      assert.ok(cached.cache?.size, 'A serves the session from its cache');
      assert.equal(relay!.cut(), 1, 'the subscriber connection was cut');
      await sleep(400);
      // The cache counts as usable while a PONG came within two heartbeats (200 ms here); on a loaded
      // machine one PING can take longer, so one look at one instant can land in such a gap.
      await assert.doesNotReject(
        within(1_000, () => cached.cache?.usable === true, 10),
        'the heartbeat still succeeds: the cache is in use',
      );
      // On the cut connection, answered by the relay: no new subscription carries invalidations.
      assert.equal(relay!.liveSubscriptions(), 0, 'the cache did not resubscribe');
      const logout = await fetch(`${b.appUrl}/api/auth/logout`, { headers: { cookie }, redirect: 'manual' });
      assert.equal(logout.status, 302);
      const loggedOutAt = Date.now();
      await sleep(maxAgeMs + 800);
      await assert.doesNotReject(
        within(1_000, () => cached.cache?.usable === true, 10),
        'still in use: only the age bounds it',
      );
      assert.equal(relay!.liveSubscriptions(), 0, 'still no new subscription');
      stopped = true;
      await Promise.all([traffic, writes]);
      const served = results.filter((r) => r.at >= loggedOutAt && r.status === 200);
      const lastServed = served.length > 0 ? Math.max(...served.map((r) => r.at)) - loggedOutAt : 0;
      t.diagnostic(`${served.length} requests served after the logout, the last ${lastServed} ms after it`);
      // 100 ms of slack for a loaded machine (the request's own time).
      const late = results.filter((r) => r.at > loggedOutAt + maxAgeMs + 100);
      assert.ok(late.length > 0, 'requests went on past the bound');
      assert.deepEqual(
        late.filter((r) => r.status !== 401).map((r) => `${r.status} at +${r.at - loggedOutAt} ms`),
        [],
        'no session served past maxAgeMs after the logout',
      );
    } finally {
      stopped = true;
      await Promise.all([traffic, writes]).catch(() => {});
    }
  });
});
