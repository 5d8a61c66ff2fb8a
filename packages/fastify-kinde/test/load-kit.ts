/** A bounded load of real HTTP requests, for the store fault tests. */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface Result {
  status: number;
  body: string;
  /** When the request was sent and how long it took, in milliseconds from the start of the load. */
  at: number;
  ms: number;
}

/** A bounded load: `workers` loops of GET / with the session cookie, until stopped or 20,000 requests. */
export function load(url: string, cookie: string, workers: number) {
  const results: Result[] = [];
  const started = performance.now();
  let stopped = false;
  const loop = async () => {
    while (!stopped && results.length < 20_000) {
      const at = performance.now() - started;
      // Bounded: a request that never answers fails the test instead of holding it.
      const response = await fetch(url, { headers: { cookie }, signal: AbortSignal.timeout(10_000) });
      const body = await response.text();
      results.push({ status: response.status, body, at, ms: performance.now() - started - at });
      await sleep(2);
    }
  };
  const running = Promise.all(Array.from({ length: workers }, loop));
  return {
    results,
    now: () => performance.now() - started,
    /** Waits until a request sent after `since` succeeded; answers when it was sent. */
    async recovered(since: number, boundMs: number): Promise<number> {
      const deadline = performance.now() + boundMs;
      for (;;) {
        const ok = results.find((r) => r.at > since && r.status === 200);
        if (ok) return ok.at;
        if (performance.now() > deadline) throw new Error(`no recovery within ${boundMs} ms`);
        await sleep(10);
      }
    },
    async stop() {
      stopped = true;
      await running;
    },
  };
}
