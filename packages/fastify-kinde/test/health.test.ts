import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import { after, describe, test } from 'node:test';
import { defaultDirectory, startEmulator } from 'kinde-emulator';
import { resolveConfig } from '../src/config.js';
import { CHANNELS, memorySessionStore, type SessionStore } from '../src/index.js';
import { tracedStore } from '../src/telemetry.js';
import { createTokenVerifier } from '../src/tokens.js';
import { type Rig, SECRET, startRig } from './setup.js';

const discoveries = (rig: Rig) =>
  rig.emulator.requests.filter((r) => r.path === '/.well-known/openid-configuration').length;

describe('app.kinde.health()', () => {
  const rigs: Rig[] = [];
  after(() => Promise.all(rigs.map((r) => r.close())));

  test('a stream of single-use tokens does not evict a token in use from the bearer cache', async () => {
    // Four entries at most: without admission on second sight, twenty new tokens would push the
    // token in use out, and its next request would pay a signature check again.
    const rig = await startRig({ kinde: { bearer: { cacheEntries: 4 } } });
    rigs.push(rig);
    const bearer = async (token: string) =>
      (await fetch(`${rig.appUrl}/`, { headers: { authorization: `Bearer ${token}` } })).status;
    const issue = async () =>
      (await rig.emulator.control.issueTokens({ user: 'admin@example.test' })).access_token;
    const hot = await issue();
    assert.equal(await bearer(hot), 200);
    assert.equal(await bearer(hot), 200, 'the second use: verified again, then remembered');
    for (let i = 0; i < 20; i++) assert.equal(await bearer(await issue()), 200);
    assert.equal(await bearer(hot), 200);
    assert.deepEqual((await rig.app.kinde.health()).cache.bearer, { hits: 1, misses: 22, hitRatio: 1 / 23 });
  });

  test('reports provider, keys, store and cache; probes the provider once per TTL, however often asked', async () => {
    const rig = await startRig({ kinde: { healthProbeTtl: 0.5 } });
    rigs.push(rig);
    const { access_token: token } = await rig.emulator.control.issueTokens({ user: 'admin@example.test' });
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await fetch(`${rig.appUrl}/`, { headers: { authorization: `Bearer ${token}` } })).status,
        200,
      );
    }
    const before = discoveries(rig);
    const answers = await Promise.all(Array.from({ length: 20 }, () => rig.app.kinde.health()));
    assert.equal(discoveries(rig) - before, 1, 'twenty concurrent calls: one probe');
    const health = answers[0]!;
    assert.equal(health.status, 'ok');
    assert.equal(health.provider.ok, true);
    assert.equal(health.store.ok, true);
    assert.equal(health.jwks.keys, 1);
    assert.ok(health.jwks.ageSeconds !== null && health.jwks.ageSeconds >= 0);
    // A token is remembered from its second verification on (admission on second sight): the first
    // two requests are misses, the third a hit.
    assert.deepEqual(health.cache.bearer, { hits: 1, misses: 2, hitRatio: 1 / 3 });

    rig.emulator.control.failEndpoint('discovery', { mode: 'down' });
    assert.equal((await rig.app.kinde.health()).provider.ok, true, 'within the TTL the last answer stands');
    rig.clock.advance(600);
    const down = await rig.app.kinde.health();
    assert.equal(down.status, 'degraded');
    assert.equal(down.provider.ok, false);
    assert.match(down.provider.error ?? '', /^HTTP_5\d\d$/);
    rig.emulator.control.clearFailures();
  });

  test('a failing store is reported, with a code and not a message', async () => {
    const inner = memorySessionStore();
    const store: SessionStore = Object.assign(Object.create(inner) as SessionStore, {
      get: () =>
        Promise.reject(Object.assign(new Error('redis://user:pw@host refused'), { code: 'ECONNREFUSED' })),
    });
    const rig = await startRig({ kinde: { sessionStore: store } });
    rigs.push(rig);
    const health = await rig.app.kinde.health();
    assert.equal(health.status, 'degraded');
    assert.equal(health.store.ok, false);
    assert.equal(health.store.error, 'ECONNREFUSED');
    assert.ok(!JSON.stringify(health).includes('pw@'));
  });
});

describe('the store tracing wrapper', () => {
  test('keeps a class store with #private fields working, traced methods and others alike', async () => {
    class PrivateStore {
      readonly #inner = memorySessionStore();
      get(key: string) {
        return this.#inner.get(key);
      }
      set(key: string, value: object, ttlMs: number) {
        return this.#inner.set(key, value, ttlMs);
      }
      delete(key: string) {
        return this.#inner.delete(key);
      }
      touch(key: string, ttlMs: number) {
        return this.#inner.touch(key, ttlMs);
      }
      count() {
        return this.#inner.get('a') === undefined ? 0 : 1;
      }
    }
    const traced = tracedStore(
      new PrivateStore() as unknown as SessionStore,
      'custom',
    ) as unknown as PrivateStore;
    const seen: string[] = [];
    const channel = diagnostics_channel.tracingChannel<object, object>(CHANNELS.store);
    const handlers = {
      start: (m: object) => seen.push((m as { operation: string }).operation),
      end() {},
      asyncStart() {},
      asyncEnd() {},
      error() {},
    };
    channel.subscribe(handlers);
    try {
      await traced.set('a', { v: 1 }, 1000);
      assert.deepEqual((await traced.get('a'))?.value, { v: 1 });
      assert.equal(traced.count(), 1);
    } finally {
      channel.unsubscribe(handlers);
    }
    assert.deepEqual(seen, ['set', 'get']);
    await traced.get('a');
    assert.deepEqual(seen, ['set', 'get'], 'nothing is published without subscribers');
  });
});

describe('the bearer cache: remembers()', () => {
  test('true only for the claims the cache holds for that token, from its second verification on', async () => {
    const emulator = await startEmulator({ port: 0 });
    after(() => emulator.close());
    const application = defaultDirectory().applications[0]!;
    const config = resolveConfig({
      issuerUrl: emulator.issuerUrl,
      clientId: application.clientId,
      clientSecret: application.clientSecret,
      siteUrl: 'http://127.0.0.1:1',
      sessionSecret: SECRET,
      sessionStore: 'memory',
      env: {},
    });
    const jwks = async () => new URL(`${emulator.issuerUrl}/.well-known/jwks.json`);
    const issue = async () =>
      (await emulator.control.issueTokens({ user: 'admin@example.test' })).access_token;
    const [token, other] = [await issue(), await issue()];

    const verifier = createTokenVerifier(config, jwks);
    const first = await verifier.verifyCached(token);
    assert.equal(verifier.remembers(token, first), false, 'verified once: only its fingerprint is kept');
    const second = await verifier.verifyCached(token);
    assert.notEqual(second, first);
    assert.equal(verifier.remembers(token, second), true);
    assert.equal(verifier.remembers(token, first), false, 'other claims for the same token');
    assert.equal(verifier.remembers(other, second), false, 'another token');
    assert.equal(verifier.peek(token), second);

    const none = createTokenVerifier(config, jwks, { cacheEntries: 0 });
    await none.verifyCached(token);
    const again = await none.verifyCached(token);
    assert.equal(none.remembers(token, again), false, 'no cache: nothing is remembered');
  });
});
