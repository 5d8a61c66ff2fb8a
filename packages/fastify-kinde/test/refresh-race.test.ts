import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { resolveConfig } from '../src/config.js';
import {
  KindeAuthError,
  memorySessionStore,
  type RedisSessionStore,
  redisSessionStore,
} from '../src/index.js';
import type { OidcClient, ProviderTokens } from '../src/oidc.js';
import { createRefresher } from '../src/refresh.js';
import { createSessionManager } from '../src/session/manager.js';
import type { SessionRecord } from '../src/session/record.js';
import { createCookieSigner } from '../src/session/signer.js';
import type { SessionStore } from '../src/session/store.js';
import type { TokenVerifier } from '../src/tokens.js';
import { REDIS_URL, redisMissing, removeKeys, testPrefix } from './redis-kit.js';
import { SECRET } from './setup.js';

const config = resolveConfig({
  issuerUrl: 'http://127.0.0.1:1',
  clientId: 'client',
  siteUrl: 'http://127.0.0.1:2',
  sessionSecret: SECRET,
  env: {},
});
const signer = createCookieSigner([SECRET]);

function record(refreshToken: string, expiresInMs: number): SessionRecord {
  const exp = Math.floor((Date.now() + expiresInMs) / 1000);
  return {
    v: 1,
    user: { id: 'kp_1', email: null, given_name: null, family_name: null, picture: null },
    accessToken: `access-${refreshToken}`,
    accessClaims: { sub: 'kp_1', exp },
    accessExpiresAt: exp * 1000,
    idToken: null,
    idClaims: { sub: 'kp_1' },
    refreshToken,
    createdAt: Date.now(),
  };
}

/** A manager whose provider runs `refresh` (never the network). */
function manager(store: SessionStore, refresh: (token: string) => Promise<ProviderTokens>) {
  const calls: string[] = [];
  const oidc = {
    refresh: (token: string) => {
      calls.push(token);
      return refresh(token);
    },
  } as unknown as OidcClient;
  const verifier: TokenVerifier = {
    verify: async () => ({ sub: 'kp_1', exp: Math.floor(Date.now() / 1000) + 3600 }),
  } as unknown as TokenVerifier;
  const refresher = createRefresher({ oidc, verifier });
  const fetchProfile = () => Promise.reject(new Error('not used'));
  return { sessions: createSessionManager({ config, store, signer, refresher, fetchProfile }), calls };
}

describe('refresh races', () => {
  test('a refresh refused because another process already rotated the token keeps its result', async () => {
    const store = memorySessionStore();
    const stale = record('rt0', 1_000);
    const winner = record('rt1', 3_600_000);
    store.set('sess:s1', stale, 60_000);
    const { sessions, calls } = manager(store, async () => {
      // Meanwhile another process refreshed and stored its result; ours is refused.
      store.set('sess:s1', winner, 60_000);
      throw new KindeAuthError('ERR_CODE_EXCHANGE', 'invalid_grant');
    });
    const loaded = await sessions.load(signer.sign('s1'));
    assert.deepEqual(calls, ['rt0']);
    assert.equal(loaded?.record.refreshToken, 'rt1', 'the winner’s tokens are used');
    assert.ok(store.get('sess:s1'), 'the loser did not end the session');
  });

  test('without leases, a refused refresh waits a moment for the winner’s result before ending the session', async () => {
    const store = memorySessionStore();
    store.set('sess:s6', record('rt0', 1_000), 60_000);
    const { sessions, calls } = manager(store, async () => {
      // Another process rotated the token first; its result is stored a moment after our refusal.
      setTimeout(() => store.set('sess:s6', record('rt1', 3_600_000), 60_000), 300);
      throw new KindeAuthError('ERR_CODE_EXCHANGE', 'invalid_grant');
    });
    const loaded = await sessions.load(signer.sign('s6'));
    assert.deepEqual(calls, ['rt0']);
    assert.equal(loaded?.record.refreshToken, 'rt1', 'the winner’s tokens are used');
  });

  test('a refresh that is refused outright ends the session', async () => {
    const store = memorySessionStore();
    store.set('sess:s2', record('rt0', 1_000), 60_000);
    const { sessions } = manager(store, async () => {
      throw new KindeAuthError('ERR_CODE_EXCHANGE', 'invalid_grant');
    });
    assert.equal(await sessions.load(signer.sign('s2')), undefined);
    assert.equal(store.get('sess:s2'), undefined);
  });

  test('a refresh racing a logout does not bring the session back', async () => {
    const store = memorySessionStore();
    store.set('sess:s3', record('rt0', 1_000), 60_000);
    const { sessions } = manager(store, async () => {
      store.delete('sess:s3'); // the logout lands while the provider answers
      return {
        accessToken: 'new',
        idToken: undefined,
        refreshToken: 'rt1',
        expiresIn: 3600,
        idClaims: undefined,
      };
    });
    assert.equal(await sessions.load(signer.sign('s3')), undefined);
    assert.equal(store.get('sess:s3'), undefined);
  });
});

const skip = await redisMissing();

describe('refresh races across instances (Redis)', () => {
  const prefix = testPrefix('race');
  const stores: RedisSessionStore[] = [];
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    if (!skip) await removeKeys(prefix);
  });

  test('the lease holder reads the shared record, not its stale local copy, before asking the provider', {
    skip,
  }, async () => {
    const store = redisSessionStore({ url: REDIS_URL, prefix, localCache: true });
    stores.push(store);
    await store.ready();
    await store.set('sess:s4', record('rt0', 1_000), 60_000);
    // Read until the local cache holds it (the write's own invalidation message has come by).
    for (let i = 0; i < 100; i++) {
      const answer = store.get('sess:s4');
      if (typeof (answer as Promise<unknown>).then !== 'function') break;
      await answer;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    // Another instance refreshed; its invalidation message is lost (written past the store here).
    const raw = new Redis(REDIS_URL);
    await raw.set(`${prefix}sess:s4`, JSON.stringify(record('rt1', 3_600_000)), 'PX', 60_000);
    raw.disconnect();
    assert.equal((store.get('sess:s4') as { value: SessionRecord }).value.refreshToken, 'rt0', 'stale copy');
    const { sessions, calls } = manager(store, async () => {
      throw new Error('the provider must not be asked');
    });
    const loaded = await sessions.load(signer.sign('s4'));
    assert.deepEqual(calls, []);
    assert.equal(loaded?.record.refreshToken, 'rt1');
  });

  test('an instance that finds the lease taken waits for the stored result', { skip }, async () => {
    const store = redisSessionStore({ url: REDIS_URL, prefix });
    stores.push(store);
    await store.set('sess:s5', record('rt0', 1_000), 60_000);
    const token = await store.lock('sess:s5', 5_000);
    assert.ok(token);
    const { sessions, calls } = manager(store, async () => {
      throw new Error('the provider must not be asked');
    });
    const waiting = sessions.load(signer.sign('s5'));
    setTimeout(async () => {
      await store.set('sess:s5', record('rt1', 3_600_000), 60_000);
      await store.unlock('sess:s5', token);
    }, 100);
    assert.equal((await waiting)?.record.refreshToken, 'rt1');
    assert.deepEqual(calls, []);
  });
});
