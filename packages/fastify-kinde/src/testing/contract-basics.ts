import assert from 'node:assert/strict';
import type { SessionStore, StoreEntry } from '../session/store.js';

export type Store = SessionStore<object>;

/** The cases of the contract, by id (to skip one for a store, with a reason). */
export type ContractCaseId =
  | 'set-get'
  | 'missing'
  | 'expiry'
  | 'touch'
  | 'delete'
  | 'delete-once'
  | 'replace'
  | 'isolation'
  | 'size'
  | 'bounds'
  | 'concurrency'
  | 'shared-delete'
  | 'shared-write'
  | 'lease'
  | 'lease-expiry'
  | 'restart'
  | 'user-index'
  | 'user-revoke'
  | 'user-revoke-in-flight'
  | 'user-revoke-org'
  | 'user-refresh'
  | 'user-concurrent'
  | 'user-bounded'
  | 'user-cleanup';

/** What a case gets: instances over one fresh scope. */
export interface ContractContext {
  propagationMs: number;
  maxEntries: number | undefined;
  shared: boolean;
  /** Another instance over the scope (the same data when the store is shared). */
  open(): Promise<Store>;
  /** Closes every instance opened so far. */
  closeAll(): Promise<void>;
  /** The time the store's expiry is read against: the contract's `clock`, else the system clock. */
  now(): number;
  /** Lets `ms` pass for the store: moves the contract's `clock`, or waits that long without one. */
  pass(ms: number): Promise<void>;
}

export interface Capabilities {
  shared?: boolean;
  persistent?: boolean;
  maxEntries?: number;
}

export interface ContractCase {
  id: ContractCaseId;
  title: string;
  /** A reason to skip, from what the store declares. */
  unless?(options: Capabilities): string | undefined;
  run(context: ContractContext): Promise<void>;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How far a reported `expiresAt` may be from the TTL asked for (clocks, rounding, a loaded machine). */
const SLACK_MS = 250;
/** A TTL that ends within a test. */
export const SHORT_MS = 300;
export const LONG_MS = 60_000;

export async function valueAt(store: Store, id: string): Promise<object | undefined> {
  return (await store.get(id))?.value;
}

export function assertExpiresNear(
  entry: StoreEntry<object> | undefined,
  ttlMs: number,
  what: string,
  now: () => number = Date.now,
) {
  assert.ok(entry !== undefined, `${what}: the entry is there`);
  const at = now();
  const expected = at + ttlMs;
  assert.ok(
    Math.abs(entry.expiresAt - expected) <= SLACK_MS,
    `${what}: expiresAt is ${entry.expiresAt - at} ms from now, expected about ${ttlMs}`,
  );
}

/** Polls until `check` holds; fails after `boundMs` with `what`. */
export async function eventually(
  boundMs: number,
  what: string,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = performance.now() + boundMs;
  while (!(await check())) {
    if (performance.now() > deadline) assert.fail(`${what} within ${boundMs} ms`);
    await sleep(2);
  }
}

/** Two instances over one scope when shared (the second one reads through its own cache), else one. */
export async function pair(context: ContractContext): Promise<[Store, Store]> {
  const a = await context.open();
  return [a, context.shared ? await context.open() : a];
}

export const needsShared = (o: Capabilities) =>
  o.shared ? undefined : 'the store is not shared between instances';

export const basics: ContractCase[] = [
  {
    id: 'set-get',
    title: 'set stores a value with its TTL; set again replaces value and TTL',
    async run(context) {
      const store = await context.open();
      await store.set('a', { n: 1, s: 'one' }, LONG_MS);
      const entry = await store.get('a');
      assert.deepEqual(entry?.value, { n: 1, s: 'one' });
      assertExpiresNear(entry, LONG_MS, 'after set', context.now);
      await store.set('a', { n: 2 }, 2 * LONG_MS);
      const again = await store.get('a');
      assert.deepEqual(again?.value, { n: 2 }, 'the new value, whole (no merge)');
      assertExpiresNear(again, 2 * LONG_MS, 'after a second set', context.now);
      await store.set('a', { n: 3 }, LONG_MS / 2);
      assertExpiresNear(await store.get('a'), LONG_MS / 2, 'a shorter TTL is taken too', context.now);
    },
  },
  {
    id: 'missing',
    title: 'a missing entry: get undefined, delete false, touch and replace do not create it',
    async run(context) {
      const store = await context.open();
      assert.equal(await store.get('nobody'), undefined);
      assert.equal(await store.delete('nobody'), false);
      await store.touch('nobody', LONG_MS);
      assert.equal(await store.get('nobody'), undefined, 'touch does not create');
      if (store.replace) {
        assert.equal(await store.replace('nobody', { n: 1 }, LONG_MS), false);
        assert.equal(await store.get('nobody'), undefined, 'replace does not create');
      }
    },
  },
  {
    id: 'expiry',
    title: 'an expired entry is never returned, nor touched, replaced or deleted back to life',
    async run(context) {
      const store = await context.open();
      await store.set('short', { n: 1 }, SHORT_MS);
      assert.deepEqual(await valueAt(store, 'short'), { n: 1 }, 'live before its TTL');
      await context.pass(SHORT_MS + 150);
      assert.equal(await store.get('short'), undefined, 'gone after its TTL');
      await store.touch('short', LONG_MS);
      assert.equal(await store.get('short'), undefined, 'touch does not revive');
      if (store.replace) assert.equal(await store.replace('short', { n: 2 }, LONG_MS), false);
      assert.equal(await store.get('short'), undefined, 'replace does not revive');
      assert.equal(await store.delete('short'), false, 'an expired entry is not a live one');
      await store.set('zero', { n: 1 }, 0);
      assert.equal(await store.get('zero'), undefined, 'a TTL of 0 stores nothing live');
    },
  },
  {
    id: 'touch',
    title: 'touch sets the TTL from now and keeps the value',
    async run(context) {
      const store = await context.open();
      await store.set('t', { n: 1 }, SHORT_MS);
      await store.touch('t', LONG_MS);
      const entry = await store.get('t');
      assert.deepEqual(entry?.value, { n: 1 });
      assertExpiresNear(entry, LONG_MS, 'after touch', context.now);
      await context.pass(SHORT_MS + 150);
      assert.deepEqual(await valueAt(store, 't'), { n: 1 }, 'alive past its first TTL');
    },
  },
  {
    id: 'delete',
    title: 'delete answers true once for a live entry, then false',
    async run(context) {
      const store = await context.open();
      await store.set('d', { n: 1 }, LONG_MS);
      assert.equal(await store.delete('d'), true);
      assert.equal(await store.get('d'), undefined);
      assert.equal(await store.delete('d'), false);
    },
  },
  {
    id: 'delete-once',
    title: 'concurrent deletes of one entry (across instances when shared): exactly one answers true',
    async run(context) {
      const [a, b] = await pair(context);
      for (let round = 0; round < 5; round++) {
        const id = `once:${round}`;
        await a.set(id, { round }, LONG_MS);
        await b.get(id);
        const answers = await Promise.all(
          Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? a : b).delete(id)),
        );
        assert.equal(answers.filter(Boolean).length, 1, `round ${round}: ${answers.join(',')}`);
      }
    },
  },
];

export const replaceCases: ContractCase[] = [
  {
    id: 'replace',
    title: 'replace writes over a live entry only, and a replace racing a delete never revives it',
    unless: needsShared,
    async run(context) {
      const [a, b] = await pair(context);
      if (!a.replace || !b.replace) return assert.fail('a shared store must offer replace');
      await a.set('r', { n: 1 }, LONG_MS);
      assert.equal(await a.replace('r', { n: 2 }, 2 * LONG_MS), true);
      const entry = await a.get('r');
      assert.deepEqual(entry?.value, { n: 2 });
      assertExpiresNear(entry, 2 * LONG_MS, 'after replace', context.now);
      for (let round = 0; round < 5; round++) {
        const id = `race:${round}`;
        await a.set(id, { round }, LONG_MS);
        await b.get(id);
        await Promise.all([a.delete(id), b.replace(id, { round, late: true }, LONG_MS)]);
        assert.equal(await a.get(id), undefined, `round ${round}: deleted for the deleting instance`);
        await eventually(
          context.propagationMs,
          `round ${round}: deleted for the other instance`,
          async () => {
            return (await b.get(id)) === undefined;
          },
        );
        assert.equal(await b.replace(id, { round }, LONG_MS), false, 'a later replace finds nothing');
      }
    },
  },
];
