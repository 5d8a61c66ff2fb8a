import { executionAsyncResource } from 'node:async_hooks';

/**
 * Keeps one of Node's `process.nextTick` objects alive, so that V8 keeps their hidden class.
 *
 * Node builds each tick as an object literal with computed keys (`{ [async_id_symbol]: …, callback,
 * args }`). Between bursts of work no tick object is alive, and a full garbage collection then frees
 * the chain of hidden classes those objects had; the next tick builds a new chain, and the literal's
 * property stores, which had seen the old one, see a new class. After a few such rounds they are
 * megamorphic, V8 compiles `nextTick` with a runtime call per property, and every tick costs
 * 300–550 ns instead of about 30 for the rest of the process (measured after a load, Node 24 and 22):
 * four ticks of every HTTP request, +2.2 µs of CPU per request in a paired run, in a process that
 * lost this lottery. A large module graph loaded at start-up makes it likely. One tick object kept
 * alive keeps the chain alive: the stores stay monomorphic (bench/next-tick-stores.mjs;
 * bench/README.md, "`process.nextTick`'s slow state").
 *
 * The object is the running tick itself (`executionAsyncResource()` inside a `nextTick` callback:
 * public API, no async hook enabled, which would slow every promise for good). It is taken when this
 * module is loaded: the classes are lost while the rest of an app's modules load, before any app
 * registers the plugin (taken at registration, it came too late in every process tried, judged by
 * a figure taken at start-up that the bench has since replaced; not measured again). While an
 * app holds it, it is taken again every 30 s (an unreferenced timer), so that if V8 replaces the
 * chain (a field's representation generalized), the new one is the one kept.
 */
let kept: object | undefined;
let holders = 0;
let timer: NodeJS.Timeout | undefined;

function capture(): void {
  process.nextTick(() => {
    kept = executionAsyncResource();
  });
}

capture();

/** Keeps the tick object current while an app runs (one timer for the whole process); the function returned releases this hold. */
export function holdTickShape(everyMs = 30_000): () => void {
  if (holders++ === 0) timer = setInterval(capture, everyMs).unref();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

/** The tick object kept now (for tests), or undefined. */
export function keptTick(): object | undefined {
  return kept;
}
