import { KindeAuthError } from './errors.js';

/** The longest path (with query and fragment) kept after login; a longer one falls back. */
const MAX_RETURN_TO = 2048;

// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Where to send the browser after login, given a `returnTo` from the query string.
 *
 * The check applies to the value that ends up in `Location`, not to the raw string: `value` is
 * resolved against the site URL the way a browser resolves it (WHATWG URL: backslashes become
 * slashes, dot segments, plain or percent-encoded, are removed, tabs and newlines are dropped), and
 * only its path, query and fragment are kept. That path is used when all of these hold, else the
 * `fallback`:
 * - the resolved URL has the site's origin (so no other host, no scheme change, no `javascript:`);
 * - the path starts with exactly one `/` (`//host` and `/\host` are other hosts to a browser);
 * - resolving the path again gives the same URL (what the browser will do with `Location`);
 * - the raw value holds no control character, and the path is at most 2,048 characters.
 *
 * It never throws: a value that is not a same-origin path is not an error a user can fix, and a
 * login should still land somewhere useful. `fallback` is configuration and is used as given.
 *
 * @example
 * ```ts
 * const site = new URL('https://app.example');
 * safeReturnTo('/items/1?q=a', '/', site); // '/items/1?q=a'
 * safeReturnTo('/a/..//evil.example', '/', site); // '/' (it would resolve to //evil.example)
 * safeReturnTo('https://app.example/x', '/', site); // '/x'
 * ```
 */
export function safeReturnTo(value: string | undefined, fallback: string, site: URL): string {
  if (value === undefined || value === '' || CONTROL.test(value)) return fallback;
  let url: URL;
  try {
    url = new URL(value, site);
  } catch {
    return fallback;
  }
  if (url.origin !== site.origin || (url.protocol !== 'https:' && url.protocol !== 'http:')) return fallback;
  const path = `${url.pathname}${url.search}${url.hash}`;
  if (!sameOriginPath(path, url, site)) return fallback;
  return path;
}

/** True when `path` is what a browser resolves to `expected` on `site`, and only that. */
function sameOriginPath(path: string, expected: URL, site: URL): boolean {
  if (path.length > MAX_RETURN_TO || !path.startsWith('/')) return false;
  if (path[1] === '/' || path[1] === '\\') return false;
  let again: URL;
  try {
    again = new URL(path, site);
  } catch {
    return false;
  }
  return again.origin === site.origin && again.href === expected.href;
}

/**
 * Like {@link safeReturnTo}, and an absolute http(s) URL of another origin is kept as well when
 * `allowed` (the compiled `KINDE_POST_LOGIN_ALLOWED_URL_REGEX`, anchored) matches all of its
 * normalised form (WHATWG `href`: lower-case scheme and host, dot segments resolved, default port
 * dropped). A URL with user info (`https://a@b`) or a control character is never kept.
 *
 * @example
 * ```ts
 * const allowed = compileAllowList('https://([a-z]+\\.)?acme\\.example/.*', 'KINDE_POST_LOGIN_ALLOWED_URL_REGEX');
 * returnToTarget('https://app.acme.example/x', '/', site, allowed); // 'https://app.acme.example/x'
 * returnToTarget('https://evil.example/', '/', site, allowed); // '/'
 * ```
 */
export function returnToTarget(
  value: string | undefined,
  fallback: string,
  site: URL,
  allowed: RegExp | undefined,
): string {
  const path = safeReturnTo(value, fallback, site);
  if (path !== fallback || allowed === undefined || value === undefined || CONTROL.test(value)) return path;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fallback;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return fallback;
  if (url.username !== '' || url.password !== '' || url.href.length > MAX_RETURN_TO) return fallback;
  return allowed.test(url.href) ? url.href : fallback;
}

/** Refuses patterns whose nested quantifiers can take exponential time (`(a+)+`, `(\w*)*`). */
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d+,)/;

/**
 * Compiles an allow-list pattern into an anchored expression matching whole URLs. Throws
 * `ERR_CONFIG` for an invalid pattern or one with a nested quantifier (a ReDoS risk).
 *
 * @example
 * ```ts
 * compileAllowList('https://app\\.example/.*', 'KINDE_POST_LOGIN_ALLOWED_URL_REGEX').test('https://app.example/x'); // true
 * ```
 */
export function compileAllowList(pattern: string, name: string): RegExp {
  if (pattern.length > 1024)
    throw new KindeAuthError('ERR_CONFIG', `${name} must be at most 1,024 characters`);
  if (NESTED_QUANTIFIER.test(pattern)) {
    throw new KindeAuthError(
      'ERR_CONFIG',
      `${name} has a quantified group that itself repeats (such as "(a+)+"): matching it can take exponential time; write it without the nested repetition`,
    );
  }
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    throw new KindeAuthError(
      'ERR_CONFIG',
      `${name} is not a valid regular expression: ${(error as Error).message}`,
    );
  }
}
