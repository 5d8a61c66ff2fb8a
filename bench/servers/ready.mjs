/**
 * The handshake between a bench server (a child process) and the runner: one line on stdout,
 * `BENCH_READY {json}`, once the server answers requests. Everything else a server prints is ignored.
 *
 * @param {Record<string, unknown>} info
 */
export function ready(info) {
  process.stdout.write(`BENCH_READY ${JSON.stringify(info)}\n`);
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
