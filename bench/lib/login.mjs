// Real logins through the emulator's pages (test-kit), turned into the one cookie header a load uses.
import { HttpClient, login } from 'test-kit';

/**
 * Logs in to `appUrl` as `email` and returns the Cookie header carrying only the app's session
 * cookie (the jar is per host, and the emulator on the same host sets its own).
 *
 * @param {string} appUrl
 * @param {RegExp} sessionCookie  the name of the app's session cookie
 * @param {string} [path]         the app's login route
 */
export async function sessionCookie(appUrl, sessionCookie, path = '/api/auth/login') {
  const client = new HttpClient();
  const hops = await login(client, appUrl, 'admin@example.test', path);
  const last = hops.at(-1);
  if (last?.status !== 200) throw new Error(`login to ${appUrl} ended with ${last?.status} at ${last?.url}`);
  const pairs = [...client.cookies(appUrl)].filter(([name]) => sessionCookie.test(name));
  if (pairs.length === 0) throw new Error(`login to ${appUrl} set no cookie matching ${sessionCookie}`);
  return pairs.map(([name, value]) => `${name}=${value}`).join('; ');
}

/**
 * One request, to check a row answers 200 before it is loaded.
 *
 * @param {string} url
 * @param {Record<string, string>} headers
 * @returns {Promise<{ status: number, body: string }>}
 */
export async function probe(url, headers) {
  const response = await fetch(url, { headers, redirect: 'manual' });
  return { status: response.status, body: await response.text() };
}
