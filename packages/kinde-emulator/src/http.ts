import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EmulatorContext } from './context.js';
import { isLoopbackHost } from './exposure.js';
import type { Application } from './types.js';

/** An RFC 6749 protocol error (`{error, error_description}`) with its HTTP status. */
export class OAuthError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

/** Parameters from a query string or form body: values may be strings or arrays (repeated keys). */
export type Params = Record<string, unknown>;

/** Reads the params object of a query or body, tolerating a missing or non-object body. */
export function asParams(value: unknown): Params {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Params) : {};
}

/** A single-valued parameter; a repeated one is an `invalid_request`. Empty strings count as absent. */
export function param(params: Params, name: string): string | undefined {
  const v = params[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new OAuthError('invalid_request', `"${name}" must be given once`);
}

/** A parameter that may repeat and/or hold space-separated values (`audience`, `scope`, `prompt`). */
export function paramList(params: Params, name: string): string[] {
  const v = params[name];
  const raw = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  const out: string[] = [];
  for (const item of raw) {
    if (typeof item !== 'string') throw new OAuthError('invalid_request', `"${name}" must be a string`);
    for (const part of item.split(/\s+/)) if (part && !out.includes(part)) out.push(part);
  }
  return out;
}

/** Parses a Cookie header into a map (first occurrence wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** True for an http(s) URL on a loopback host ({@link isLoopbackHost}), without credentials or a fragment. */
export function isLoopbackUrl(value: string): boolean {
  const url = safeUrl(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return false;
  if (url.username || url.password || url.hash) return false;
  return isLoopbackHost(url.hostname);
}

/** Parses a URL, or undefined. */
export function safeUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** Whether `app` accepts `uri` as a login callback. */
export function isAllowedRedirect(app: Application, uri: string): boolean {
  if (app.redirectUris.includes(uri)) return true;
  return app.allowLoopbackRedirects === true && isLoopbackUrl(uri);
}

/** Whether `app` accepts `uri` as a post-logout redirect. */
export function isAllowedLogout(app: Application, uri: string): boolean {
  if (app.logoutUris.includes(uri)) return true;
  return app.allowLoopbackRedirects === true && isLoopbackUrl(uri);
}

/** The issuer URL: the listening address, or derived from the request when used via `inject`. */
export function issuerOf(ctx: EmulatorContext, request: FastifyRequest): string {
  return ctx.issuer ?? `${request.protocol}://${request.host}`;
}

/** Appends query parameters to a URL (keeping its own). */
export function withParams(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

/** Sends an RFC 6749 JSON error. */
export function sendOAuthError(reply: FastifyReply, err: OAuthError): FastifyReply {
  reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
  if (err.status === 401) reply.header('www-authenticate', 'Basic realm="kinde-emulator"');
  return reply.code(err.status).send({ error: err.error, error_description: err.description });
}
