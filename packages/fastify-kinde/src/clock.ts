/**
 * Where fastify-kinde reads the time: session expiry, token expiry, refresh timing, backoff, JWKS
 * age, login attempts. The default is the system clock; tests pass one they move (see
 * `testClock` in `fastify-kinde/testing`) instead of sleeping.
 *
 * @example
 * ```ts
 * let offsetMs = 0;
 * app.register(fastifyKinde, { clock: { now: () => Date.now() + offsetMs } });
 * offsetMs += 60_000; // a minute later, for the plugin
 * ```
 */
export interface Clock {
  /** Milliseconds since the epoch, as `Date.now()`. */
  now(): number;
}

/** The clock's `now` as a function: `Date.now` itself when no clock is given (no indirection). */
export function nowOf(clock: Clock | undefined): () => number {
  if (clock === undefined) return Date.now;
  if (typeof clock?.now !== 'function') throw new TypeError('"clock" must be an object with a now() method');
  return () => clock.now();
}
