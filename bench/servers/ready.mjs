/**
 * The handshake between a bench server (a child process) and the runner: one line on stdout,
 * `BENCH_READY {json}`, once the server answers requests. Everything else a server prints is ignored.
 *
 * @param {Record<string, unknown>} info
 */
export function ready(info) {
  nextTickNs().then((ns) =>
    process.stdout.write(`BENCH_READY ${JSON.stringify({ ...info, nextTickNs: ns })}\n`),
  );
}

/**
 * What one `process.nextTick` call costs in this process: the median of 20 batches of 1,000 calls,
 * each drained before the next. Node builds each tick as an object literal with computed keys, and V8
 * settles during start-up on one of two costs for it (about 30 or about 400 ns, bench/next-tick.mjs):
 * every HTTP request makes four such calls, so a row and its baseline can differ by 1.5 µs for that
 * alone. The report shows this figure per row.
 */
export async function nextTickNs() {
  const noop = () => {};
  /** @type {number[]} */
  const batches = [];
  for (let k = 0; k < 25; k++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < 1000; i++) process.nextTick(noop);
    batches.push(Number(process.hrtime.bigint() - start) / 1000);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const kept = batches.slice(5).sort((a, b) => a - b);
  return Math.round(kept[kept.length >> 1] ?? Number.NaN);
}

/** Ends the process on SIGTERM/SIGINT after `close`, so `--cpu-prof` profiles are written. */
export function exitOnSignal(/** @type {() => Promise<unknown> | unknown} */ close = () => {}) {
  const stop = async () => {
    try {
      await close();
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** The port a server must listen on (`PORT`, required: the runner picks free ports). */
export function portFromEnv() {
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error('PORT must be set to a free port');
  return port;
}
