/**
 * The handshake between a bench server (a child process) and the runner: one line on stdout,
 * `BENCH_READY {json}`, once the server answers requests. Everything else a server prints is ignored.
 *
 * @param {Record<string, unknown>} info
 */
export function ready(info) {
  process.on('SIGUSR2', () => {
    nextTickNs().then((ns) => process.stdout.write(`BENCH_TICK ${ns}\n`));
  });
  process.stdout.write(`BENCH_READY ${JSON.stringify(info)}\n`);
}

/**
 * What one `process.nextTick` call costs in this process: the median of 20 batches of 1,000 calls,
 * each drained before the next. Node builds each tick as an object literal with computed keys, and V8
 * can settle on one of two costs for it in optimized code, about 30 or about 300 ns (bench/README.md,
 * "`process.nextTick`'s slow state"): every HTTP request makes four such calls. The runner asks each
 * server for it (SIGUSR2, answered with a `BENCH_TICK ns` line) after every measured load, so the
 * figure is the one the load ran with. Measured at start instead, before V8 has optimized `nextTick`
 * on a pinned core, it says little: 400–800 ns in processes that then run their load at 30.
 */
async function nextTickNs() {
  const noop = () => {};
  /** @type {number[]} */
  const batches = [];
  for (let k = 0; k < 25; k++) {
    const start = process.hrtime.bigint();
    tickBatch(noop);
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

/**
 * 1,000 `process.nextTick` calls, in a plain function of its own: a loop inside the async
 * {@link nextTickNs} would run in unoptimized code for its first call (400–800 ns per call).
 */
function tickBatch(/** @type {() => void} */ noop) {
  for (let i = 0; i < 1000; i++) process.nextTick(noop);
}
