import assert from 'node:assert/strict';
import {
  assertExpiresNear,
  type ContractCase,
  type ContractContext,
  eventually,
  LONG_MS,
  needsShared,
  pair,
  SHORT_MS,
  type Store,
  valueAt,
} from './contract-basics.js';

/** Values that survive a JSON round trip exactly, as session records must. */
const AWKWARD = {
  text: 'plain',
  unicode: 'héllo wörld ✓ 日本 😀',
  controls: 'nul:\u0000 tab:\t newline:\n quote:" backslash:\\',
  empty: '',
  numbers: [0, -1, 1.5, 2 ** 52, -(2 ** 31)],
  flags: [true, false, null],
  nested: { deeper: { list: [{ a: 1 }, []], none: null } },
};

const IDS = ['case', 'Case', 'with space', 'sess:abc', 'login:abc', 'ünïcode-✓', 'x'.repeat(200), 'quote\'"'];

function lockOf(store: Store) {
  const { lock, unlock } = store;
  if (lock === undefined || unlock === undefined)
    return assert.fail('a shared store must offer lock and unlock');
  return { lock: lock.bind(store), unlock: unlock.bind(store) };
}

const values: ContractCase[] = [
  {
    id: 'isolation',
    title: 'ids are distinct (case, spaces, prefixes, unicode, 200 characters) and values round-trip exactly',
    async run(context) {
      const [a, b] = await pair(context);
      await Promise.all(IDS.map((id, i) => a.set(id, { id, i, ...AWKWARD }, LONG_MS)));
      for (const [i, id] of IDS.entries()) {
        assert.deepEqual(await valueAt(b, id), { id, i, ...AWKWARD }, `value of ${JSON.stringify(id)}`);
      }
      assert.equal(await b.get('CASE'), undefined, 'no id matches another one loosely');
      assert.equal(await a.delete('case'), true);
      assert.deepEqual(await valueAt(a, 'Case'), { id: 'Case', i: 1, ...AWKWARD }, 'only that id went');
      await a.set('Case', { v: 2 }, LONG_MS);
      assert.deepEqual(await valueAt(a, 'Case'), { v: 2 }, 'a read after a write sees the write');
    },
  },
  {
    id: 'size',
    title: 'a 64 KiB value (a session with large tokens) is stored whole',
    async run(context) {
      const store = await context.open();
      const big = {
        token: 'x'.repeat(64 * 1024),
        claims: Array.from({ length: 200 }, (_, i) => `perm:${i}`),
      };
      await store.set('big', big, LONG_MS);
      assert.deepEqual(await valueAt(store, 'big'), big);
    },
  },
  {
    id: 'bounds',
    title: 'past its declared bound the store evicts the least recently used entries, not the newest',
    unless: (o) => (o.maxEntries === undefined ? 'the store declares no bound on entries' : undefined),
    async run(context) {
      const max = context.maxEntries as number;
      const store = await context.open();
      for (let i = 0; i < max + 10; i++) await store.set(`e${i}`, { i }, LONG_MS);
      for (let i = 0; i < 10; i++) assert.equal(await store.get(`e${i}`), undefined, `e${i} evicted`);
      for (let i = max; i < max + 10; i++) assert.deepEqual(await valueAt(store, `e${i}`), { i });
      const size = (store as { size?: number }).size;
      if (size !== undefined) assert.ok(size <= max, `size ${size} within ${max}`);
    },
  },
  {
    id: 'concurrency',
    title: 'concurrent writes from every instance all land; concurrent writes to one id leave one of them',
    async run(context) {
      const [a, b] = await pair(context);
      // Within the store's bound, so that nothing is evicted.
      const n = Math.min(200, context.maxEntries ?? 200);
      await Promise.all(
        Array.from({ length: n }, (_, i) => (i % 2 ? a : b).set(`many:${i}`, { i }, LONG_MS)),
      );
      const read = await Promise.all(
        Array.from({ length: n }, (_, i) => valueAt(i % 2 ? b : a, `many:${i}`)),
      );
      assert.deepEqual(
        read,
        Array.from({ length: n }, (_, i) => ({ i })),
      );
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).set('one', { i }, LONG_MS)));
      const final = (await valueAt(a, 'one')) as { i: number } | undefined;
      assert.ok(final !== undefined && final.i >= 0 && final.i < 40, 'one of the writes');
      await eventually(context.propagationMs, 'both instances agree', async () => {
        return JSON.stringify(await valueAt(b, 'one')) === JSON.stringify(final);
      });
    },
  },
];

const shared: ContractCase[] = [
  {
    id: 'shared-delete',
    title: 'a delete on one instance is seen by another (no revival by its touch or replace)',
    unless: needsShared,
    async run(context) {
      const [a, b] = await pair(context);
      await a.set('s', { n: 1 }, LONG_MS);
      assert.deepEqual(await valueAt(b, 's'), { n: 1 });
      assert.deepEqual(await valueAt(b, 's'), { n: 1 }, 'read twice (a cache now holds it)');
      assert.equal(await a.delete('s'), true);
      await eventually(context.propagationMs, 'the other instance sees the delete', async () => {
        return (await b.get('s')) === undefined;
      });
      await b.touch('s', LONG_MS);
      if (b.replace) assert.equal(await b.replace('s', { n: 2 }, LONG_MS), false, 'replace finds nothing');
      assert.equal(await b.get('s'), undefined, 'not revived for the other instance');
      assert.equal(await a.get('s'), undefined, 'not revived for the deleting one');
      assert.equal(await b.delete('s'), false, 'and already taken');
    },
  },
  {
    id: 'shared-write',
    title: 'a write on one instance is seen by another, value and TTL',
    unless: needsShared,
    async run(context) {
      const [a, b] = await pair(context);
      await a.set('w', { n: 1 }, LONG_MS);
      assert.deepEqual(await valueAt(b, 'w'), { n: 1 });
      await a.set('w', { n: 2 }, 2 * LONG_MS);
      await eventually(context.propagationMs, 'the other instance sees the new value', async () => {
        return ((await valueAt(b, 'w')) as { n?: number } | undefined)?.n === 2;
      });
      await a.set('w', { n: 3 }, SHORT_MS);
      await eventually(context.propagationMs, 'the other instance sees the short-lived value', async () => {
        return ((await valueAt(b, 'w')) as { n?: number } | undefined)?.n === 3;
      });
      await context.pass(SHORT_MS + 150);
      assert.equal(await b.get('w'), undefined, 'a TTL shortened on one instance ends it for both');
    },
  },
  {
    id: 'lease',
    title:
      'a lease is exclusive across instances, released only by its holder, and its taker reads the shared value',
    unless: needsShared,
    async run(context) {
      const [a, b] = await pair(context);
      const [la, lb] = [lockOf(a), lockOf(b)];
      const tokens = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? la : lb).lock('L', LONG_MS)),
      );
      const taken = tokens.filter((t) => t !== undefined);
      assert.equal(taken.length, 1, 'exactly one of ten concurrent takers holds it');
      const token = taken[0] as string;
      assert.equal(typeof token, 'string');
      assert.ok((await la.lock('other', LONG_MS)) !== undefined, 'a lease names one id only');
      await lb.unlock('L', `${token}x`);
      await la.unlock('L', 'not-the-token');
      assert.equal(await lb.lock('L', LONG_MS), undefined, 'a wrong token does not release it');
      await (tokens.indexOf(token) % 2 ? la : lb).unlock('L', token);
      const next = await lb.lock('L', LONG_MS);
      assert.ok(next !== undefined && next !== token, 'released by its holder, then taken with a new token');
      await a.set('v', { n: 1 }, LONG_MS);
      assert.deepEqual(await valueAt(b, 'v'), { n: 1 });
      await a.set('v', { n: 2 }, LONG_MS);
      assert.ok((await lb.lock('v', LONG_MS)) !== undefined);
      assert.deepEqual(await valueAt(b, 'v'), { n: 2 }, 'under the lease, get reads the shared value');
    },
  },
  {
    id: 'lease-expiry',
    title: 'a lease ends by itself after its TTL, and the old holder cannot release its successor',
    unless: needsShared,
    async run(context) {
      const [a, b] = await pair(context);
      const [la, lb] = [lockOf(a), lockOf(b)];
      const first = await la.lock('E', SHORT_MS);
      assert.ok(first !== undefined);
      assert.equal(await lb.lock('E', SHORT_MS), undefined, 'held');
      await context.pass(SHORT_MS + 150);
      const second = await lb.lock('E', LONG_MS);
      assert.ok(second !== undefined, 'taken again once expired');
      await la.unlock('E', first);
      assert.equal(await la.lock('E', LONG_MS), undefined, 'the late unlock released nothing');
    },
  },
  {
    id: 'restart',
    title: 'entries outlive every instance: a new one finds what was stored, and not what was deleted',
    unless: (o) => (o.persistent ? undefined : 'the store does not persist (data ends with the instance)'),
    async run(context: ContractContext) {
      const a = await context.open();
      await a.set('kept', { n: 1 }, LONG_MS);
      await a.set('gone', { n: 2 }, LONG_MS);
      assert.equal(await a.delete('gone'), true);
      await context.closeAll();
      const reopened = await context.open();
      const entry = await reopened.get('kept');
      assert.deepEqual(entry?.value, { n: 1 });
      assertExpiresNear(entry, LONG_MS, 'after a restart', context.now);
      assert.equal(await reopened.get('gone'), undefined);
    },
  },
];

export const moreCases: ContractCase[] = [...values, ...shared];
