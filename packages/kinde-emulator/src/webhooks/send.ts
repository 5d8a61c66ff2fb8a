import { SignJWT } from 'jose';
import { isLoopbackHost } from '../exposure.js';
import type { KeyRing } from '../keys.js';
import type { WebhookEvent } from './events.js';

/**
 * Signs an event as Kinde does: an RS256 JWT with the emulator's active key (published in its
 * JWKS, which is where `@kinde/webhooks` looks), whose payload is the event itself. Kinde's
 * webhook tokens carry no `iss`, `aud`, `iat` or `exp`; receivers check `timestamp` instead.
 */
export async function signEvent(keys: KeyRing, event: WebhookEvent): Promise<string> {
  const key = keys.active;
  return new SignJWT({ ...event })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

/** Why an endpoint may not be called, or undefined when it may. */
export function endpointProblem(endpoint: string, allowRemote: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http or https URL';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.hash) return 'must not contain a #fragment';
  // Only names that cannot point elsewhere: IP literals in 127/8 or ::1, and localhost.
  if (!allowRemote && !isLoopbackHost(url.hostname)) {
    return 'is not a loopback URL (127.0.0.1, localhost, [::1]); start the emulator with allowRemote (--allow-remote) to deliver elsewhere';
  }
  return undefined;
}

/** The outcome of one HTTP attempt. */
export interface AttemptResult {
  /** HTTP status, when a response arrived. */
  responseCode?: number;
  /** Network error or timeout, when none did. */
  error?: string;
}

/**
 * POSTs a signed event (`content-type: application/jwt`, `webhook-id` stable across attempts).
 * Redirects are not followed: a loopback receiver cannot send the token elsewhere.
 */
export async function postEvent(
  endpoint: string,
  jwt: string,
  webhookId: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<AttemptResult> {
  try {
    const res = await fetch(endpoint, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/jwt', 'webhook-id': webhookId, 'user-agent': 'kinde-emulator' },
      body: jwt,
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
    });
    await res.body?.cancel().catch(() => {});
    return { responseCode: res.status };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError') return { error: `no response within ${timeoutMs} ms` };
    if (e.name === 'AbortError') return { error: 'cancelled (emulator closed)' };
    return { error: e.cause?.code ?? e.message };
  }
}
