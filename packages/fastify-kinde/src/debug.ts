import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';

/**
 * Debug mode (`KINDE_DEBUG_MODE=true` or `debug: true`, Kinde's Next.js SDK name): each decision
 * of fastify-kinde explained in one log line. Off, nothing of this exists: the callers hold
 * `undefined` and test it once.
 *
 * A line is `{ kindeDebug: { step, ...facts } }` with the message `fastify-kinde debug: <why>`.
 * Facts are chosen by the callers from what is never secret: reason codes, user ids (`sub`), paths,
 * provider error codes, outcomes. Never a token, code, state, cookie value or secret.
 */
export interface DebugLog {
  /** Logs one decision for a request (through `request.log`, or the app's logger on a quiet route). */
  explain(request: FastifyRequest, step: string, why: string, facts?: Record<string, unknown>): void;
}

/** Levels at which a request logger would drop an `info` line. */
const QUIET = new Set(['warn', 'error', 'fatal', 'silent']);

/** Where {@link DebugLog} is kept on the instance, for code that only has the request (the guards). */
export const DEBUG_LOG: unique symbol = Symbol.for('fastify-kinde.debug');

/**
 * Builds the debug log over the app's logger. Lines are written at `info`, so that the variable
 * alone shows them with Fastify's default level; a route that logs at `warn` only (the callback,
 * whose URL carries the code) gets them through the app's logger, tagged with the request id.
 *
 * @example
 * ```ts
 * const debug = config.debug ? createDebugLog(app.log) : undefined;
 * debug?.explain(request, 'session', 'anonymous: the session cookie signature is invalid');
 * ```
 */
export function createDebugLog(appLog: FastifyBaseLogger): DebugLog {
  return {
    explain(request, step, why, facts) {
      const log = QUIET.has(request.log.level) ? appLog.child({ reqId: request.id }) : request.log;
      log.info({ kindeDebug: { step, ...facts } }, `fastify-kinde debug: ${why}`);
    },
  };
}

/**
 * A URL or path as debug lines show it: without its query or fragment, which an app may use for
 * one-time tokens (`/reset?token=…`).
 */
export function pathOnly(url: string): string {
  const cut = url.search(/[?#]/);
  return cut === -1 ? url : `${url.slice(0, cut)}${url[cut] === '?' ? '?…' : '#…'}`;
}

/** The debug log of the instance serving `request`, or undefined when debug mode is off. */
export function debugOf(request: FastifyRequest): DebugLog | undefined {
  return (request.server as unknown as Record<symbol, DebugLog | undefined>)[DEBUG_LOG];
}

/** Registers the debug log on the instance (only when debug mode is on). */
export function installDebugLog(app: FastifyInstance, debug: DebugLog): void {
  app.decorate(DEBUG_LOG as unknown as string, debug);
}
