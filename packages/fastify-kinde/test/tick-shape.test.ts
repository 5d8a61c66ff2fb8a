import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { holdTickShape, keptTick } from '../src/tick-shape.js';

describe('tick shape', () => {
  test('a tick object of Node’s own is kept from import on: its async id symbol, callback and args', async () => {
    await new Promise((resolve) => setImmediate(resolve));
    const tick = keptTick() as Record<string | symbol, unknown> | undefined;
    assert.ok(tick !== undefined, 'kept once the first tick after import has run');
    const symbols = Object.getOwnPropertySymbols(tick).map((s) => s.description);
    assert.ok(symbols.includes('async_id_symbol'), `symbols: ${symbols.join(', ')}`);
    assert.ok(symbols.includes('trigger_async_id_symbol'));
    assert.equal(typeof tick.callback, 'function');
    assert.ok(Object.hasOwn(tick, 'args'));
  });

  test('while held, a fresh tick object is taken at each interval; after the last release, none', async () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const first = holdTickShape(10);
    const second = holdTickShape(10);
    const before = keptTick();
    await sleep(60);
    const during = keptTick();
    assert.notEqual(during, before, 'the timer took a new one');
    first();
    first();
    await sleep(60);
    assert.notEqual(keptTick(), during, 'one hold left: still taken');
    second();
    const after = keptTick();
    await sleep(60);
    assert.equal(keptTick(), after, 'released (a second call of a release counts once): no timer');
  });
});
