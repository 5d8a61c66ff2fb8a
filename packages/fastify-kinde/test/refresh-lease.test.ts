import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { HttpClient, login } from 'test-kit';
import { type RedisSessionStore, redisSessionStore } from '../src/index.js';
import { REDIS_URL, redisMissing, removeKeys, testPrefix } from './redis-kit.js';
import { type Rig, startRig } from './setup.js';

const skip = await redisMissing();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('refresh leases across two instances on one Redis', () => {
  const prefix = testPrefix('lease');
  const rigs: Rig[] = [];
  const stores: RedisSessionStore[] = [];
  after(async () => {
    for (const rig of rigs.reverse()) await rig.close();
    await Promise.all(stores.map((s) => s.close()));
    if (!skip) await removeKeys(prefix);
  });

  test('a refresh slower than 15 s keeps its lease: the other instance waits, the provider sees one refresh', {
    skip,
    timeout: 60_000,
  }, async (t) => {
    const storeB = redisSessionStore({ url: REDIS_URL, prefix });
    const storeA = redisSessionStore({ url: REDIS_URL, prefix });
    stores.push(storeA, storeB);
    const b = await startRig({ emulator: { accessTokenTtl: 2 }, kinde: { sessionStore: storeB } });
    rigs.push(b);
    const emulator = b.emulator;
    const client = new HttpClient();
    await login(client, b.appUrl, 'admin@example.test');
    // Instance A starts while discovery fails, so its first refresh must discover first: slow
    // discovery plus a slow token endpoint make a refresh of over 16 s, each step within its timeout.
    emulator.control.failEndpoint('discovery', { mode: 'down' });
    const a = await startRig({ sharedEmulator: emulator, kinde: { sessionStore: storeA } });
    rigs.push(a);
    await sleep(600);
    emulator.control.clearFailures();
    // The access token has expired, for both instances and the emulator.
    b.advance(2_000);
    a.clock.advance(2_000);
    emulator.control.failEndpoint('discovery', { mode: 'slow', delayMs: 8_000, count: 1 });
    emulator.control.failTokenEndpoint({ mode: 'slow', delayMs: 8_500, count: 1 });
    const started = Date.now();

    // Longer than HttpClient's default bound: this refresh takes over 16 s on purpose.
    const holder = client.request(`${a.appUrl}/`, { signal: AbortSignal.timeout(40_000) });
    await sleep(300);
    const waiter = await client.request(`${b.appUrl}/`);
    t.diagnostic(`instance B answered ${waiter.status} after ${Date.now() - started} ms`);
    assert.ok(waiter.status === 503 || waiter.status === 200, `B answered ${waiter.status}`);
    const again = waiter.status === 200 ? waiter : await client.request(`${b.appUrl}/`);
    const held = await holder;
    t.diagnostic(`instance A refreshed in ${Date.now() - started} ms`);
    assert.equal(held.status, 200, held.body);
    assert.equal(again.status, 200, again.body);

    const refreshes = emulator.requests.filter((r) => r.grantType === 'refresh_token' && r.time >= started);
    assert.equal(refreshes.length, 1, 'one refresh at the provider: B never asked while A held the lease');
    const tokenA = JSON.parse((await client.request(`${a.appUrl}/whoami`)).body).token;
    const tokenB = JSON.parse((await client.request(`${b.appUrl}/whoami`)).body).token;
    assert.equal(tokenA, tokenB, 'both instances serve the one result');
  });
});
