import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyReply } from 'fastify';

/**
 * The plugin's own cookies, read and written without `@fastify/cookie`: a protected request reads one
 * cookie, so it scans the `Cookie` header for that name instead of parsing every cookie into an object
 * (and a reply that sets none pays no `onSend` hook). The rules are those of the `cookie` package that
 * `@fastify/cookie` uses, so the value is the same one it would give: pairs split on `;`, a name and
 * value trimmed of spaces and tabs, the first pair of a name wins, and a value with `%` is
 * percent-decoded (left as sent when that fails). An app that registers `@fastify/cookie` itself keeps
 * `request.cookies` and `reply.setCookie`; the two write `Set-Cookie` side by side.
 */

/** Attributes of a cookie the plugin sets. */
export interface CookieAttributes {
  path: string;
  httpOnly: boolean;
  sameSite: 'lax';
  secure: boolean;
  domain?: string;
  /** Seconds; none: a browser-session cookie. */
  maxAge?: number;
  expires?: Date;
}

function decode(value: string): string {
  if (value.indexOf('%') === -1) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}

/**
 * The value of cookie `name` in a `Cookie` header, or undefined. Linear in the header's length
 * (each `=` and `;` is looked for once), whatever the header holds.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.indexOf(name) === -1) return undefined;
  const length = header.length;
  // The shortest pair is a name and `=`.
  if (length < 2) return undefined;
  let start = 0;
  let eq = header.indexOf('=');
  while (eq !== -1) {
    let end = header.indexOf(';', start);
    if (end === -1) end = length;
    if (eq > end) {
      // A pair without `=`: skipped, as the cookie package skips it.
      start = end + 1;
      continue;
    }
    let keyStart = start;
    while (keyStart < eq && isBlank(header.charCodeAt(keyStart))) keyStart++;
    let keyEnd = eq;
    while (keyEnd > keyStart && isBlank(header.charCodeAt(keyEnd - 1))) keyEnd--;
    if (keyEnd - keyStart === name.length && header.startsWith(name, keyStart)) {
      let valueStart = eq + 1;
      while (valueStart < end && isBlank(header.charCodeAt(valueStart))) valueStart++;
      let valueEnd = end;
      while (valueEnd > valueStart && isBlank(header.charCodeAt(valueEnd - 1))) valueEnd--;
      return decode(header.slice(valueStart, valueEnd));
    }
    start = end + 1;
    if (start >= length) return undefined;
    if (eq < start) eq = header.indexOf('=', start);
  }
  return undefined;
}

/** Every cookie of a `Cookie` header (the login routes look through the attempt cookies). */
export function readCookies(header: string | undefined): Record<string, string | undefined> {
  return header === undefined ? {} : parseCookie(header);
}

/** Adds one `Set-Cookie` to the reply, replacing one of the same name set earlier in this reply. */
export function setCookie(reply: FastifyReply, name: string, value: string, attributes: CookieAttributes) {
  const line = stringifySetCookie({ name, value, ...attributes });
  const present = reply.getHeader('set-cookie');
  if (present === undefined) {
    reply.header('set-cookie', line);
    return;
  }
  const prefix = `${name}=`;
  const lines = (Array.isArray(present) ? present : [String(present)]).filter((l) => !l.startsWith(prefix));
  lines.push(line);
  reply.removeHeader('set-cookie');
  reply.header('set-cookie', lines);
}

/** Tells the browser to forget cookie `name` (the same path and domain it was set with). */
export function clearCookie(
  reply: FastifyReply,
  name: string,
  attributes: Omit<CookieAttributes, 'maxAge' | 'expires'>,
) {
  setCookie(reply, name, '', { ...attributes, maxAge: 0, expires: new Date(0) });
}
