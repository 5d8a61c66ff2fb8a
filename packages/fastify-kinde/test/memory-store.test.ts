import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memorySessionStore } from '../src/index.js';

test('the memory store takes up to 100,000 entries, its intended scale, and says what to use past it', () => {
  const store = memorySessionStore({ maxEntries: 100_000 });
  store.set('a', { n: 1 }, 60_000);
  assert.deepEqual((store.get('a') as { value: unknown } | undefined)?.value, { n: 1 });
  assert.throws(
    () => memorySessionStore({ maxEntries: 100_001 }),
    (error: Error) =>
      error instanceof TypeError &&
      error.message.includes('"maxEntries" must be at most 100,000') &&
      error.message.includes('SQLite, Redis or PostgreSQL'),
  );
});
