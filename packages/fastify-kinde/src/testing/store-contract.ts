/**
 * The contract every session store keeps, as one test suite: the built-in stores run it, and so
 * can yours. Runs under `node:test` or Vitest (pass their `describe` and `test`).
 */
import { randomBytes } from 'node:crypto';
import type { SessionStore } from '../session/store.js';
import type { TestClock } from './clock.js';
import { basics, type ContractCaseId, type ContractContext, replaceCases, sleep } from './contract-basics.js';
import { moreCases } from './contract-shared.js';
import { userCases } from './contract-users.js';

const contractCases = [...basics, ...replaceCases, ...moreCases, ...userCases];

export type { ContractCaseId, TestClock };

/** A test function such as `node:test`'s or Vitest's `test`: `test(name, fn)` and `test.skip(name, fn)`. */
export interface ContractTestFn {
  (name: string, fn: () => Promise<void>): unknown;
  skip(name: string, fn: () => Promise<void>): unknown;
}

/** Options of {@link runStoreContract}. */
export interface StoreContractOptions<S extends SessionStore<object> = SessionStore<object>> {
  /** Names the suite: `store contract: <name>`. */
  name: string;
  /**
   * Opens the store over the data set named `scope` (a fresh random string per test: use it as a
   * key prefix, a table name, a file name). With `shared`, a second call with the same scope opens
   * a second instance over the same data, as another process would.
   */
  create(scope: string): S | Promise<S>;
  /** Removes what `scope` left behind, after its instances are closed. */
  cleanup?(scope: string): unknown;
  /** Instances opened over one scope see each other's writes (Redis, PostgreSQL, one SQLite file). */
  shared?: boolean;
  /** Data outlives every instance: closing them all and opening a new one finds it (not memory). */
  persistent?: boolean;
  /** The store keeps at most this many entries and evicts the least recently used past it. */
  maxEntries?: number;
  /** The longest a write on one instance may take to be seen by another, in milliseconds. Default 100. */
  propagationMs?: number;
  /**
   * The clock the store reads its expiry from: a `testClock()` also given to the stores `create`
   * makes (`memorySessionStore({ clock })`). The cases then move it past a TTL instead of waiting for
   * it, and put it back to real time when they end. Only for a store whose expiry is computed in this
   * process (memory, SQLite); where a server owns the TTL (Redis, PostgreSQL) real time must pass,
   * so leave it out.
   */
  clock?: TestClock;
  /** Cases to skip for this store, each with the reason shown in the test's name. */
  skip?: Partial<Record<ContractCaseId, string>>;
  /** `describe` of `node:test` or Vitest. */
  describe(name: string, fn: () => void): unknown;
  /** `test` of `node:test` or Vitest. */
  test: ContractTestFn;
}

/**
 * Registers the store contract suite for one store: get/set/touch/delete/replace semantics, TTLs and
 * expiry, exactly-once delete under concurrency, leases (exclusive, expiring, released only by their
 * holder), value isolation, sizes, bounds, concurrency, what a second instance sees, restart, and the
 * per-user session index built over the store (listing, revoking on every instance, bounds, cleanup).
 * Cases that a store's declared capabilities rule out (no `replace`, no `lock`, not shared, not
 * persistent) are registered as skipped, with the reason.
 *
 * @example
 * ```ts
 * import { describe, test } from 'node:test';
 * import { runStoreContract } from 'fastify-kinde/testing/store-contract';
 *
 * runStoreContract({
 *   name: 'my store',
 *   create: (scope) => myStore({ prefix: `${scope}:` }),
 *   shared: true,
 *   persistent: true,
 *   describe,
 *   test,
 * });
 * ```
 */
export function runStoreContract<S extends SessionStore<object>>(options: StoreContractOptions<S>): void {
  const propagationMs = options.propagationMs ?? 100;
  const clock = options.clock;
  options.describe(`store contract: ${options.name}`, () => {
    for (const contractCase of contractCases) {
      const reason = options.skip?.[contractCase.id] ?? contractCase.unless?.(options);
      const title = `${contractCase.id}: ${contractCase.title}`;
      if (reason) {
        options.test.skip(`${title} (skipped: ${reason})`, async () => {});
        continue;
      }
      options.test(title, async () => {
        const scope = `c${randomBytes(6).toString('hex')}`;
        const opened: S[] = [];
        const context: ContractContext = {
          propagationMs,
          maxEntries: options.maxEntries,
          shared: options.shared === true,
          async open() {
            const store = await options.create(scope);
            opened.push(store);
            return store;
          },
          async closeAll() {
            const all = opened.splice(0);
            for (const store of all) await store.close?.();
          },
          now: clock === undefined ? Date.now : () => clock.now(),
          async pass(ms) {
            if (clock === undefined) await sleep(ms);
            else clock.advance(ms);
          },
        };
        try {
          await contractCase.run(context);
        } finally {
          await context.closeAll();
          await options.cleanup?.(scope);
          clock?.advance(-clock.offsetMs);
        }
      });
    }
  });
}
