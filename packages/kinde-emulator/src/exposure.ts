import { isIP } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EmulatorContext } from './context.js';

// The emulator signs tokens for anyone who asks. These checks keep it from being reached by
// others by accident: from another machine, from a web page through DNS rebinding, or in a
// deployment, and keep what it records free of credentials.

/** NODE_ENV values the emulator runs under. */
const DEVELOPMENT_ENVS = new Set([undefined, '', 'development', 'test']);

/** Throws unless NODE_ENV is unset, `development` or `test`. */
export function refuseOutsideDevelopment(env: string | undefined = process.env.NODE_ENV): void {
  if (DEVELOPMENT_ENVS.has(env)) return;
  throw new Error(
    `kinde-emulator refuses to run with NODE_ENV=${env}: it runs only when NODE_ENV is unset, "development" or "test", because it signs tokens for anyone. Use real Kinde outside development.`,
  );
}

/** True for `localhost`, 127.0.0.0/8, `::1` and their IPv4-mapped forms. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice(7) : bare;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** Whether a request came over a loopback connection (its socket's peer address). */
export function fromLoopback(request: FastifyRequest): boolean {
  return isLoopbackHost(request.socket.remoteAddress ?? '');
}

/**
 * Refuses to listen beyond loopback unless `allowRemote` is set; with it, warns. The warning goes
 * through `process.emitWarning`, so it is printed on stderr by default, by the CLI too.
 */
export function checkBind(host: string, allowRemote: boolean): void {
  if (isLoopbackHost(host)) return;
  if (!allowRemote) {
    throw new Error(
      `kinde-emulator refuses to listen on ${host}: other machines could reach it and get tokens signed for anyone. Listen on 127.0.0.1 (the default), or pass allowRemote: true (--allow-remote) if you mean it.`,
    );
  }
  process.emitWarning(
    `kinde-emulator listens on ${host}: any machine that reaches it can sign in as any user and get tokens. Use it on trusted networks only.`,
    'KindeEmulatorWarning',
  );
}

/**
 * Routes left open to any Host: discovery and the public keys, which hold nothing secret. Every
 * other route could serve a web page through DNS rebinding: the test controls, the sign-in pages,
 * and the token endpoint (a client-credentials grant with the well-known development secret).
 */
const ANY_HOST = /^\/\.well-known\//;

/** The host name of a Host header, or undefined when it is missing or not a plain host[:port]. */
function hostName(header: string | undefined): string | undefined {
  if (!header || !/^[a-z0-9.\-[\]:]+$/i.test(header)) return undefined;
  try {
    return new URL(`http://${header}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Whether a request's Host names this emulator. A DNS-rebinding page reaches the emulator under
 * the page's own host name, so only names that cannot be rebound are accepted: IP literals,
 * `localhost`, and the host of the issuer URL (the listening address, or the `issuerUrl` option).
 */
export function isOwnHost(ctx: EmulatorContext, header: string | undefined): boolean {
  const name = hostName(header);
  if (name === undefined) return false;
  if (name === 'localhost' || isIP(name.replace(/^\[|\]$/g, '')) !== 0) return true;
  if (ctx.issuer === undefined) return false;
  return new URL(ctx.issuer).hostname === name;
}

/**
 * Answers 421 Misdirected Request (on every route but discovery and JWKS) when the Host header is
 * not this emulator's (RFC 9110 §15.5.20: the server does not answer for that authority).
 */
export function registerHostCheck(app: FastifyInstance, ctx: EmulatorContext): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    if (ANY_HOST.test(request.url) || isOwnHost(ctx, request.headers.host)) return;
    return reply.code(421).header('cache-control', 'no-store').send({
      error: 'misdirected_request',
      error_description:
        'This emulator does not answer for that Host (DNS rebinding protection). Use its issuer URL, 127.0.0.1 or localhost.',
    });
  });
}

/** Query or form keys whose values are credentials, never recorded. */
const SECRET_KEY = /token|secret|password|verifier|assertion|^code$/i;

/** A copy of query parameters with credential values replaced. */
export function redactParams(params: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(params)) out[key] = SECRET_KEY.test(key) ? '[redacted]' : value;
  return out;
}
