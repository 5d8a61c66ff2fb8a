import type { OidcClient } from './oidc.js';
import type { SessionRecord } from './session/record.js';

/** The longest a sign-out waits for the provider to revoke a session's tokens. */
export const REVOKE_TIMEOUT_MS = 2_000;

/**
 * What became of revoking an ended session's tokens at the provider: `revoked` (the provider said
 * 200), `failed` (it refused or could not be reached, with a short non-secret reason), `timeout`
 * (no answer within {@link REVOKE_TIMEOUT_MS}; the request may still land), or `none` (the session
 * held no token to revoke).
 */
export type RevocationOutcome =
  | { outcome: 'revoked' | 'none' | 'timeout' }
  | { outcome: 'failed'; reason: string };

function reasonOf(error: unknown): string {
  const failure = error as { code?: unknown; details?: { error?: unknown } };
  const code = failure.details?.error ?? failure.code ?? 'error';
  return String(code).slice(0, 80);
}

/**
 * Ends a session's token family at the provider (RFC 7009): its refresh token, and its access
 * token, as Kinde's Next.js SDK does on `end_session`. Best effort and bounded: it never throws and
 * never waits longer than {@link REVOKE_TIMEOUT_MS}, so a sign-out succeeds while the provider is down.
 *
 * @example
 * ```ts
 * await sessions.destroy(id);
 * const { outcome } = await revokeSessionTokens(oidc, record); // 'revoked', 'failed', 'timeout' or 'none'
 * ```
 */
export async function revokeSessionTokens(
  oidc: Pick<OidcClient, 'revoke'>,
  record: Pick<SessionRecord, 'refreshToken' | 'accessToken'>,
  timeoutMs = REVOKE_TIMEOUT_MS,
): Promise<RevocationOutcome> {
  const calls: Promise<void>[] = [];
  // The refresh token first: revoking it ends the whole family (every rotation of it) at Kinde.
  if (record.refreshToken) calls.push(oidc.revoke(record.refreshToken, 'refresh_token'));
  if (record.accessToken) calls.push(oidc.revoke(record.accessToken, 'access_token'));
  if (calls.length === 0) return { outcome: 'none' };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    timer.unref();
  });
  const settled = Promise.allSettled(calls);
  try {
    const result = await Promise.race([settled, late]);
    if (result === 'timeout') return { outcome: 'timeout' };
    const failure = result.find((r) => r.status === 'rejected');
    return failure === undefined
      ? { outcome: 'revoked' }
      : { outcome: 'failed', reason: reasonOf(failure.reason) };
  } finally {
    clearTimeout(timer);
  }
}
