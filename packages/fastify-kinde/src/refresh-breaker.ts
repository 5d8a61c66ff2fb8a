/** What the breaker lets a refresh do: go ahead, go ahead as the one probe of a failing provider, or not. */
export type Admission = 'closed' | 'probe' | 'refused';

/** A circuit breaker over the provider's token endpoint, shared by every session of one instance. */
export interface Breaker {
  admit(now: number): Admission;
  /** The provider failed; `probe` when it was the probe's try. */
  failed(now: number, probe: boolean): void;
  /** The provider answered (tokens, or a refusal): back to normal. */
  succeeded(): void;
  /** The probe ended without asking the provider: another may probe. */
  released(): void;
  /** Milliseconds until the next probe may go. */
  retryInMs(now: number): number;
}

/** Consecutive provider failures that open the breaker. */
const THRESHOLD = 3;

/**
 * Closed until `THRESHOLD` tries in a row find the provider down; then open for `firstOpenMs`,
 * after which one probe goes; each failed probe doubles the open time up to `maxOpenMs`. Failures of
 * tries that started before it opened do not lengthen it. Constant memory.
 */
export function createBreaker({
  firstOpenMs,
  maxOpenMs,
}: {
  firstOpenMs: number;
  maxOpenMs: number;
}): Breaker {
  let failures = 0;
  let openMs = 0;
  let openUntil = 0;
  let probing = false;

  const open = (now: number, ms: number) => {
    openMs = ms;
    openUntil = now + ms * (0.8 + Math.random() * 0.4);
  };

  return {
    admit(now) {
      if (openMs === 0) return 'closed';
      if (now < openUntil || probing) return 'refused';
      probing = true;
      return 'probe';
    },
    failed(now, probe) {
      if (probe) {
        probing = false;
        open(now, Math.min(maxOpenMs, openMs * 2));
        return;
      }
      if (openMs > 0) return;
      failures += 1;
      if (failures >= THRESHOLD) open(now, firstOpenMs);
    },
    succeeded() {
      failures = 0;
      openMs = 0;
      openUntil = 0;
      probing = false;
    },
    released() {
      probing = false;
    },
    retryInMs(now) {
      return Math.max(0, openUntil - now);
    },
  };
}
