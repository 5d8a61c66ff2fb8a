import type { EmulatorContext, EndpointFailure, FailureTarget } from './context.js';
import type { SigningKey } from './keys.js';
import type { Directory } from './types.js';
import { validateDirectory } from './validate.js';

const TARGETS: FailureTarget[] = ['token', 'jwks', 'user_profile', 'discovery'];

/** How to make an endpoint fail, for resilience tests. */
export interface TokenFailureOptions {
  /** `down`: 503 `temporarily_unavailable`; `slow`: a normal answer after `delayMs`. */
  mode: 'down' | 'slow';
  /** Delay before answering (default 0 for `down`, 2000 for `slow`). */
  delayMs?: number;
  /** Number of requests affected; default: until cleared. */
  count?: number;
}

/** Test controls, available from code (`emu.control`) and over HTTP (`/_emulator/...`). */
export class EmulatorControl {
  constructor(private readonly ctx: EmulatorContext) {}

  /** Current emulator time (unix seconds) and the offset from real time. */
  clock(): { now: number; offsetSeconds: number } {
    return { now: this.ctx.clock.now(), offsetSeconds: this.ctx.clock.offsetSeconds };
  }

  /** Sets the clock offset in seconds (0 = real time). */
  setClockOffset(seconds: number): void {
    if (!Number.isFinite(seconds)) throw new RangeError('"offsetSeconds" must be a number');
    this.ctx.clock.offsetSeconds = seconds;
  }

  /** Sets the emulator's "now" (unix seconds). */
  setNow(unixSeconds: number): void {
    if (!Number.isFinite(unixSeconds)) throw new RangeError('"now" must be unix seconds');
    this.ctx.clock.offsetSeconds = unixSeconds - Date.now() / 1000;
  }

  /** Moves the clock by `seconds`. */
  advanceClock(seconds: number): void {
    if (!Number.isFinite(seconds)) throw new RangeError('"advanceSeconds" must be a number');
    this.ctx.clock.advance(seconds);
  }

  /** Makes the token endpoint fail or slow down. */
  failTokenEndpoint(options: TokenFailureOptions): void {
    this.failEndpoint('token', options);
  }

  /** Makes `token`, `jwks`, `user_profile` (all profile endpoints) or `discovery` fail or slow down. */
  failEndpoint(target: FailureTarget, options: TokenFailureOptions): void {
    if (!TARGETS.includes(target)) throw new RangeError(`endpoint must be one of ${TARGETS.join(', ')}`);
    if (options.mode !== 'down' && options.mode !== 'slow')
      throw new RangeError('"mode" must be "down" or "slow"');
    const delayMs = options.delayMs ?? (options.mode === 'slow' ? 2000 : 0);
    if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 120_000) {
      throw new RangeError('"delayMs" must be an integer from 0 to 120000');
    }
    if (options.count !== undefined && (!Number.isInteger(options.count) || options.count < 1)) {
      throw new RangeError('"count" must be a positive integer');
    }
    const failure: EndpointFailure = { mode: options.mode, delayMs, remaining: options.count };
    this.ctx.failures[target] = failure;
  }

  /** Removes injected failures. */
  clearFailures(): void {
    this.ctx.failures = {};
  }

  /** Turns the headless login (`login_hint` signs in without a page) on or off. */
  setHeadlessLogin(enabled: boolean): void {
    this.ctx.headlessLogin = enabled;
  }

  /** Publishes the next signing key without signing with it (rotation in two steps). */
  async prepareKeyRotation(): Promise<SigningKey> {
    const key = await this.ctx.keys.prepareNext(this.ctx.clock.now());
    await this.ctx.onKeysChanged?.();
    return key;
  }

  /** Rotates the signing key: the new key signs; old keys stay published until their tokens expire. */
  async rotateKeys(): Promise<SigningKey> {
    const now = this.ctx.clock.now();
    const key = await this.ctx.keys.rotate(now);
    const { accessToken, idToken } = { ...this.ctx.directory.tokenLifetimes, ...this.ctx.lifetimeOverrides };
    this.ctx.keys.prune(now, Math.max(accessToken, idToken));
    await this.ctx.onKeysChanged?.();
    return key;
  }

  /** Replaces the directory (validated first; throws a DirectoryError naming the bad field). */
  setDirectory(directory: Directory | unknown): void {
    this.ctx.directory = validateDirectory(directory);
  }

  /** Forgets sessions, codes, refresh tokens and the request log; keeps keys and the directory. */
  reset(): void {
    this.ctx.store.clear();
    this.ctx.requests.length = 0;
    this.ctx.failures = {};
    this.ctx.clock.offsetSeconds = 0;
  }
}
