import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { SessionRecord } from '../session/record.js';
import { createUserIndex, sessionHandle, USER_PREFIX, type UserIndex } from '../session/user-index.js';
import {
  type ContractCase,
  type ContractContext,
  eventually,
  LONG_MS,
  pair,
  SHORT_MS,
  type Store,
  sleep,
} from './contract-basics.js';

/** A session record as the session manager stores it, for `sub`, signed in to `org` when given. */
function record(sub: string, org?: string, createdAt = Date.now()): SessionRecord {
  return {
    v: 1,
    user: { id: sub, email: null, given_name: null, family_name: null, picture: null },
    accessToken: 'not-a-token',
    accessClaims: { sub, ...(org !== undefined && { org_code: org }) },
    accessExpiresAt: Date.now() + LONG_MS,
    idToken: null,
    idClaims: { sub },
    refreshToken: null,
    createdAt,
  };
}

const indexOf = (store: Store, maxSessionsPerUser?: number): UserIndex =>
  createUserIndex(store, {
    sessionLifetimeMs: LONG_MS,
    idleTimeoutMs: LONG_MS,
    ...(maxSessionsPerUser !== undefined && { maxSessionsPerUser }),
  });

/** Signs `sub` in once on `store`: stores the session, then indexes it, as the session manager does. */
async function signIn(store: Store, index: UserIndex, sub: string, org?: string, ttlMs = LONG_MS) {
  const id = randomBytes(16).toString('hex');
  const value = record(sub, org);
  await store.set(`sess:${id}`, value, ttlMs);
  await index.add(id, value);
  return id;
}

const live = async (store: Store, id: string) => (await store.get(`sess:${id}`)) !== undefined;

/** Opens two instances (one when the store is not shared), each with its own user index. */
async function two(context: ContractContext) {
  const [a, b] = await pair(context);
  return { a, b, ia: indexOf(a), ib: indexOf(b) };
}

/** Contract cases of the per-user session index (`revokeUser`, `sessionsOf`) over the store. */
export const userCases: ContractCase[] = [
  {
    id: 'user-index',
    title: 'sessions are indexed by sub: another instance lists exactly that user’s, with no secrets',
    async run(context) {
      const { a, ia, ib } = await two(context);
      const mine = [await signIn(a, ia, 'kp_alice', 'org_a'), await signIn(a, ia, 'kp_alice')];
      await signIn(a, ia, 'kp_bob');
      let listed: Awaited<ReturnType<UserIndex['list']>> = [];
      await eventually(context.propagationMs + 1_000, 'the other instance lists both sessions', async () => {
        listed = await ib.list('kp_alice');
        return listed.length === 2;
      });
      assert.deepEqual(
        listed.map((s) => s.handle),
        mine.map(sessionHandle),
      );
      assert.deepEqual(
        listed.map((s) => s.orgCode),
        ['org_a', null],
      );
      for (const s of listed) {
        assert.ok(s.createdAt <= s.lastSeenAt && s.lastSeenAt <= Date.now() + 1_000, 'last seen is sane');
        assert.ok(!JSON.stringify(s).includes(mine[0] as string), 'no session id is listed');
      }
      assert.deepEqual(await ib.list('kp_nobody'), []);
    },
  },
  {
    id: 'user-revoke',
    title: 'revoking a user ends all their sessions on every instance within the bound, and no one else’s',
    async run(context) {
      const { a, b, ia, ib } = await two(context);
      const alice = [
        await signIn(a, ia, 'kp_alice'),
        await signIn(a, ia, 'kp_alice'),
        await signIn(a, ia, 'kp_alice'),
      ];
      const bob = await signIn(a, ia, 'kp_bob');
      for (const id of [...alice, bob])
        assert.ok(await live(b, id), 'read on the other instance first (cached)');
      await sleep(context.propagationMs);
      assert.equal(await ib.revoke('kp_alice'), 3, 'three live sessions ended');
      await eventually(context.propagationMs, 'the first instance no longer serves any of them', async () => {
        for (const id of alice) if (await live(a, id)) return false;
        return true;
      });
      assert.ok(await live(a, bob), 'another user is untouched');
      assert.deepEqual(await ia.list('kp_alice'), []);
      assert.equal(await ia.revoke('kp_alice'), 0, 'revoking again ends nothing');
      await sleep(2); // a sign-in in the very millisecond of a revocation counts as in flight
      const again = await signIn(a, ia, 'kp_alice');
      assert.ok(await live(a, again), 'a sign-in after the revocation lives');
    },
  },
  {
    id: 'user-revoke-in-flight',
    title: 'a sign-in stored before a revocation and indexed after it is ended, never left behind',
    async run(context) {
      const { a, ia, ib } = await two(context);
      const id = randomBytes(16).toString('hex');
      const value = record('kp_alice', undefined, Date.now() - 1);
      await a.set(`sess:${id}`, value, LONG_MS);
      await ib.revoke('kp_alice');
      await assert.rejects(ia.add(id, value), { code: 'ERR_NOT_AUTHENTICATED' });
      assert.equal(await live(a, id), false);
    },
  },
  {
    id: 'user-revoke-org',
    title: 'revoking with a filter ends only the matching sessions (one organization)',
    async run(context) {
      const { a, ia, ib } = await two(context);
      const inA = await signIn(a, ia, 'kp_alice', 'org_a');
      const inB = await signIn(a, ia, 'kp_alice', 'org_b');
      assert.equal(await ib.revoke('kp_alice', (r) => r.accessClaims.org_code === 'org_a'), 1);
      await eventually(context.propagationMs, 'the org_a session ends', async () => !(await live(a, inA)));
      assert.ok(await live(a, inB));
      assert.deepEqual(
        (await ia.list('kp_alice')).map((s) => s.orgCode),
        ['org_b'],
      );
    },
  },
  {
    id: 'user-refresh',
    title: 'marking a user’s sessions makes every instance see their access token as expired',
    async run(context) {
      const { a, b, ia, ib } = await two(context);
      const id = await signIn(a, ia, 'kp_alice');
      assert.ok(await live(b, id));
      assert.equal(await ib.refreshOnNextRequest('kp_alice'), 1);
      await eventually(context.propagationMs, 'the first instance sees the mark', async () => {
        const entry = await a.get(`sess:${id}`);
        return (entry?.value as SessionRecord | undefined)?.accessExpiresAt === 0;
      });
      const entry = await a.get(`sess:${id}`);
      assert.ok(
        entry !== undefined && entry.expiresAt > Date.now() + LONG_MS / 2,
        'the session keeps its life',
      );
    },
  },
  {
    id: 'user-concurrent',
    title: 'concurrent sign-ins of one user on two instances are all indexed',
    async run(context) {
      const { a, b, ia, ib } = await two(context);
      const ids = await Promise.all(
        Array.from({ length: 12 }, (_, i) => (i % 2 ? signIn(a, ia, 'kp_alice') : signIn(b, ib, 'kp_alice'))),
      );
      const listed = new Set((await ia.list('kp_alice')).map((s) => s.handle));
      assert.deepEqual(listed, new Set(ids.map(sessionHandle)), 'no sign-in was lost to a concurrent one');
      assert.equal(await ia.revoke('kp_alice'), 12);
    },
  },
  {
    id: 'user-bounded',
    title: 'a user’s index is bounded: past the limit the oldest session ends',
    async run(context) {
      const store = await context.open();
      const index = indexOf(store, 3);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await signIn(store, index, 'kp_alice'));
      assert.deepEqual(
        (await index.list('kp_alice')).map((s) => s.handle),
        ids.slice(2).map(sessionHandle),
      );
      assert.equal(await live(store, ids[0] as string), false, 'the oldest ended');
      assert.equal(await live(store, ids[1] as string), false);
    },
  },
  {
    id: 'user-cleanup',
    title:
      'the index is cleaned with the sessions: ended ones are not listed and the entry expires with them',
    async run(context) {
      const store = await context.open();
      const index = createUserIndex(store, { sessionLifetimeMs: SHORT_MS, idleTimeoutMs: SHORT_MS });
      const short = await signIn(store, index, 'kp_alice', undefined, SHORT_MS);
      const gone = await signIn(store, index, 'kp_alice', undefined, SHORT_MS);
      await store.delete(`sess:${gone}`);
      assert.deepEqual(
        (await index.list('kp_alice')).map((s) => s.handle),
        [sessionHandle(short)],
      );
      await context.pass(SHORT_MS + 50);
      assert.deepEqual(await index.list('kp_alice'), []);
      assert.equal(await store.get(`${USER_PREFIX}kp_alice`), undefined, 'the index entry expired too');
    },
  },
];
