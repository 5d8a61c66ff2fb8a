import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { KindeTestError } from './provider.js';

const TIMEOUT_MS = 10_000;

function excerpt(body: string): string {
  const text = body
    .replace(/<style[\s\S]*?<\/style>/gi, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** The `name=value` pairs of a response's Set-Cookie headers, as sent back in a Cookie header. */
export function setCookies(headers: Record<string, unknown>): Map<string, string> {
  const raw = headers['set-cookie'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  const cookies = new Map<string, string>();
  for (const line of lines as string[]) {
    const pair = line.split(';', 1)[0] ?? '';
    const eq = pair.indexOf('=');
    if (eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  return cookies;
}

/** Fails with what the app answered when it is not a redirect. */
export function expectRedirect(what: string, step: string, response: LightMyRequestResponse): string {
  const location = response.headers.location;
  if (response.statusCode !== 302 || typeof location !== 'string') {
    throw new KindeTestError(
      `${what}: ${step} answered ${response.statusCode} instead of a redirect: ${excerpt(response.body)}`,
    );
  }
  return location;
}

/** The provider's `error` in a redirect back to the app, as a clear error. */
function providerError(what: string, location: string): void {
  const params = new URL(location, 'http://x').searchParams;
  const error = params.get('error');
  if (error !== null) {
    throw new KindeTestError(
      `${what}: the emulator refused the sign-in: ${error} (${params.get('error_description') ?? ''})`,
    );
  }
}

/**
 * Follows the emulator's `/oauth2/auth` for `userId` and returns the redirect back to the app (its
 * callback URL with `code` and `state`). With headless login this is one request; otherwise the
 * login page's form is submitted for the user, as a person would.
 */
export async function authorize(what: string, url: string, userId: string): Promise<string> {
  const page = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
  let answer = page;
  if (page.status === 200) {
    const txn = /name="txn" value="([^"]+)"/.exec(await page.text())?.[1];
    if (txn === undefined) throw new KindeTestError(`${what}: the emulator's login page has no form`);
    answer = await fetch(new URL('/oauth2/auth/login', url), {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ txn, user_id: userId }).toString(),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  }
  const location = answer.headers.get('location');
  if (answer.status !== 302 || location === null) {
    throw new KindeTestError(
      `${what}: the emulator answered ${answer.status} at ${new URL(url).pathname}: ${excerpt(await answer.text())}`,
    );
  }
  providerError(what, location);
  return location;
}

/** Checks that `app` has fastify-kinde and trusts `issuerUrl`; returns its login and callback paths. */
export async function kindeOf(
  what: string,
  app: FastifyInstance,
  issuerUrl: string,
): Promise<FastifyInstance['kinde']> {
  if (!app || typeof app.inject !== 'function') fail(what, 'the first argument must be a Fastify app');
  await app.ready();
  if (!app.hasDecorator('kinde')) {
    fail(
      what,
      'this app has no fastify-kinde: register it first (app.register(fastifyKinde, kit.options()))',
    );
  }
  if (app.kinde.issuerUrl !== issuerUrl) {
    fail(
      what,
      `the app trusts the issuer ${app.kinde.issuerUrl}, not this kit's emulator ${issuerUrl}; ` +
        'register fastify-kinde with kit.options()',
    );
  }
  return app.kinde;
}

function fail(what: string, message: string): never {
  throw new KindeTestError(`${what}: ${message}`);
}

/** A Cookie header from `name=value` pairs. */
export function cookieHeader(cookies: Map<string, string>): string {
  return [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
}
