import { createHash, randomBytes } from 'node:crypto';
import { authorize } from './flow.js';
import { KindeTestError } from './provider.js';

/** The application the kit asks tokens for. */
export interface Client {
  clientId: string;
  clientSecret: string | undefined;
}

async function tokenCall(what: string, issuerUrl: string, form: Record<string, string>, audience: string[]) {
  const body = new URLSearchParams(form);
  for (const a of audience) body.append('audience', a);
  const response = await fetch(`${issuerUrl}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: body.toString(),
    signal: AbortSignal.timeout(10_000),
  });
  const json = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (response.status !== 200 || typeof json.access_token !== 'string') {
    const reason = json.error_description ?? json.error ?? 'no access token';
    throw new KindeTestError(`${what}: the token endpoint answered ${response.status}: ${String(reason)}`);
  }
  return json.access_token;
}

function secretOf(client: Client): Record<string, string> {
  return client.clientSecret ? { client_secret: client.clientSecret } : {};
}

/**
 * A user's access token through the real authorization-code flow with PKCE: the emulator's
 * `/oauth2/auth` for the user (headless or through its page), then its token endpoint.
 */
export async function userAccessToken(
  issuerUrl: string,
  client: Client,
  redirectUri: string,
  user: { userId: string; email: string; orgCode: string | undefined },
  audience: string[],
): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL('/oauth2/auth', issuerUrl);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: client.clientId,
    redirect_uri: redirectUri,
    scope: 'openid profile email offline',
    state: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    login_hint: user.email,
    ...(user.orgCode ? { org_code: user.orgCode } : {}),
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  for (const a of audience) url.searchParams.append('audience', a);
  const back = new URL(await authorize('bearerFor', url.href, user.userId));
  const code = back.searchParams.get('code');
  if (code === null) throw new KindeTestError('bearerFor: the emulator returned no code');
  const form = {
    grant_type: 'authorization_code',
    code,
    redirect_uri: redirectUri,
    code_verifier: verifier,
    client_id: client.clientId,
    ...secretOf(client),
  };
  return tokenCall('bearerFor', issuerUrl, form, audience);
}

/** A client-credentials (machine) access token from the emulator's token endpoint. */
export async function machineAccessToken(
  issuerUrl: string,
  client: Client,
  audience: string[],
): Promise<string> {
  if (!client.clientSecret) {
    throw new KindeTestError(
      `machineToken: client_credentials needs the secret of ${client.clientId}; pass clientSecret`,
    );
  }
  const form = { grant_type: 'client_credentials', client_id: client.clientId, ...secretOf(client) };
  return tokenCall('machineToken', issuerUrl, form, audience);
}

/** `audience` as a list, checked. */
export function audienceList(what: string, value: unknown): string[] {
  if (value === undefined) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((a) => typeof a !== 'string' || a.trim() === '')) {
    throw new KindeTestError(`${what}: "audience" must be a non-empty string or an array of them`);
  }
  return list as string[];
}
