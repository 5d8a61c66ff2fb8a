import type { Clock } from '../clock.js';
import { KindeTestError } from './provider.js';

/** A clock a test moves: real time plus the sum of its advances. */
export interface TestClock extends Clock {
  /** Milliseconds since the epoch: `Date.now()` plus {@link offsetMs}. */
  now(): number;
  /** Moves the clock forward by `ms` (back with a negative value). */
  advance(ms: number): void;
  /** How far the clock is from real time, in milliseconds. */
  readonly offsetMs: number;
}

/**
 * A clock for the plugin's `clock` option: it runs with real time, and `advance(ms)` moves it, so a
 * test of an idle timeout, an expired token or a backoff moves time instead of sleeping. The
 * emulator keeps its own clock: move it too (`kit.advanceClock(seconds)`) when its tokens and
 * codes should age as well.
 *
 * @example
 * ```ts
 * const clock = testClock();
 * await app.register(fastifyKinde, kit.options({ clock, idleTimeout: 60 }));
 * const cookie = await kit.signIn(app);
 * clock.advance(61_000); // a minute later, for the app
 * const res = await app.inject({ url: '/me', headers: { cookie } }); // 401: the session idled out
 * ```
 */
export function testClock(): TestClock {
  let offsetMs = 0;
  return {
    now: () => Date.now() + offsetMs,
    advance(ms: number) {
      if (typeof ms !== 'number' || !Number.isFinite(ms)) {
        throw new KindeTestError('testClock.advance: pass a finite number of milliseconds');
      }
      offsetMs += ms;
    },
    get offsetMs() {
      return offsetMs;
    },
  };
}
