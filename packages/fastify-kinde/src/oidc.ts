import * as client from 'openid-client';
import type { KindeConfig } from './config.js';
import { KindeAuthError } from './errors.js';
import type { KindeUserProfile } from './session/record.js';

/** What one login attempt must remember between the redirect and the callback. */
export interface LoginChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** Tokens from the provider; `idClaims` were verified by openid-client (signature, iss, aud, nonce, exp). */
export interface ProviderTokens {
  accessToken: string;
  idToken: string | undefined;
  refreshToken: string | undefined;
  expiresIn: number | undefined;
  idClaims: Record<string, unknown> | undefined;
}

/** Extra `/oauth2/auth` parameters Kinde understands. */
export type AuthorizeExtras = Record<string, string | undefined>;

/** The protocol side: discovery, authorize URL, code exchange, refresh, logout URL. */
export interface OidcClient {
  /** Starts discovery early so the first login does not wait; failures are retried on use. */
  warm(): Promise<void>;
  /** `audience`: the audiences of this login (default the configured ones). */
  authorizationUrl(checks: LoginChecks, extras: AuthorizeExtras, audience?: readonly string[]): Promise<URL>;
  exchangeCode(callbackQuery: URLSearchParams, checks: LoginChecks): Promise<ProviderTokens>;
  refresh(refreshToken: string): Promise<ProviderTokens>;
  jwksUri(): Promise<URL>;
  /** Kinde's `/logout?redirect=`; `redirect` defaults to the configured post-logout URL. */
  logoutUrl(redirect?: string): string;
  /** Kinde's `/oauth2/v2/user_profile` for an access token. */
  userProfile(accessToken: string): Promise<KindeUserProfile>;
  /**
   * Revokes a token at the discovery document's `revocation_endpoint` (RFC 7009), with the client's
   * own authentication and a `token_type_hint`, as Kinde's Next.js SDK does on `end_session`.
   */
  revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<void>;
}

/** A 5xx answer (`temporarily_unavailable`, a proxy's 502/503): the provider's trouble, not the user's. */
function providerDown(error: unknown): boolean {
  if (error instanceof client.ResponseBodyError) {
    return error.status >= 500 || error.error === 'temporarily_unavailable';
  }
  const response = (error as { cause?: unknown }).cause;
  return response instanceof Response && response.status >= 500;
}

/** Maps openid-client's failures onto our codes; the provider's own `error` is kept, never a token. */
export function providerFailure(error: unknown, what: string): KindeAuthError {
  if (error instanceof KindeAuthError) return error;
  if (providerDown(error)) {
    return new KindeAuthError(
      'ERR_PROVIDER_UNAVAILABLE',
      `${what}: the identity provider is unavailable`,
      {},
      { cause: error },
    );
  }
  if (error instanceof client.ResponseBodyError) {
    return new KindeAuthError('ERR_CODE_EXCHANGE', `${what}: the provider answered ${error.error}`, {
      error: error.error,
      error_description: error.error_description ?? '',
    });
  }
  if (error instanceof client.AuthorizationResponseError) {
    return new KindeAuthError('ERR_PROVIDER_ERROR', `The provider reported an error: ${error.error}`, {
      error: error.error,
      error_description: error.error_description ?? '',
    });
  }
  const cause = error as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  const network =
    (cause.name === 'TypeError' && cause.message === 'fetch failed') ||
    cause.name === 'AbortError' ||
    cause.name === 'TimeoutError' ||
    cause.code === 'OAUTH_TIMEOUT';
  if (network) {
    return new KindeAuthError(
      'ERR_PROVIDER_UNAVAILABLE',
      `${what}: the identity provider could not be reached`,
      {},
      { cause: error },
    );
  }
  return new KindeAuthError(
    'ERR_TOKEN_INVALID',
    `${what}: ${cause.message ?? 'rejected'}`,
    {},
    { cause: error },
  );
}

function tokensFrom(
  response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers,
): ProviderTokens {
  return {
    accessToken: response.access_token,
    idToken: response.id_token,
    refreshToken: response.refresh_token,
    expiresIn: response.expires_in,
    idClaims: response.id_token ? (response.claims() as Record<string, unknown> | undefined) : undefined,
  };
}

/** How long a successful reachability probe of the provider counts, and a failed one. */
const PROBE_OK_MS = 5_000;
const PROBE_FAILED_MS = 1_000;
const PROBE_TIMEOUT_MS = 3_000;

/**
 * Builds the OIDC client for one provider. Discovery is lazy and retried after a failure, so an
 * app starts while the provider is down and existing sessions keep working.
 */
export function createOidcClient(config: KindeConfig): OidcClient {
  const issuer = new URL(config.issuerUrl);
  const redirectUri = new URL(config.routes.callback, config.siteUrl).href;
  let pending: Promise<client.Configuration> | undefined;

  function discover(): Promise<client.Configuration> {
    if (pending) return pending;
    const auth = config.clientSecret ? client.ClientSecretPost(config.clientSecret) : client.None();
    // Production refuses an http issuer in config; here http means a local provider (the emulator).
    const insecure = issuer.protocol === 'http:';
    pending = client
      .discovery(issuer, config.clientId, undefined, auth, {
        execute: insecure
          ? [client.allowInsecureRequests, client.enableNonRepudiationChecks]
          : [client.enableNonRepudiationChecks],
        timeout: 10,
      })
      .catch((error: unknown) => {
        pending = undefined;
        throw providerFailure(error, 'Discovery of the identity provider failed');
      });
    return pending;
  }

  // Before sending a browser to the provider, make sure it answers: a login while it is down gets
  // our clear 503 page rather than the browser's connection error. One probe per few seconds at most.
  let probe: { at: number; ttl: number; result: Promise<void> } | undefined;
  function reachable(): Promise<void> {
    const now = config.now();
    if (probe !== undefined && now - probe.at < probe.ttl) return probe.result;
    const current = { at: now, ttl: PROBE_OK_MS, result: Promise.resolve() };
    current.result = fetch(`${config.issuerUrl}/.well-known/openid-configuration`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    })
      .then(async (response) => {
        await response.body?.cancel();
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
      })
      .catch((error: unknown) => {
        current.ttl = PROBE_FAILED_MS;
        throw new KindeAuthError(
          'ERR_PROVIDER_UNAVAILABLE',
          'The identity provider cannot be reached right now, so sign-in is not possible. Please try again in a minute.',
          {},
          { cause: error },
        );
      });
    current.result.catch(() => {});
    probe = current;
    return current.result;
  }

  return {
    async warm() {
      await discover();
    },

    async authorizationUrl(checks, extras, audience = config.audience) {
      const oidc = await discover();
      await reachable();
      const params = new URLSearchParams({
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: config.scope,
        state: checks.state,
        nonce: checks.nonce,
        code_challenge: await client.calculatePKCECodeChallenge(checks.codeVerifier),
        code_challenge_method: 'S256',
      });
      for (const value of audience) params.append('audience', value);
      for (const [key, value] of Object.entries(extras)) {
        if (value !== undefined && key !== 'audience') params.set(key, value);
      }
      return client.buildAuthorizationUrl(oidc, params);
    },

    async exchangeCode(callbackQuery, checks) {
      const oidc = await discover();
      const currentUrl = new URL(redirectUri);
      currentUrl.search = callbackQuery.toString();
      try {
        const response = await client.authorizationCodeGrant(oidc, currentUrl, {
          pkceCodeVerifier: checks.codeVerifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        });
        return tokensFrom(response);
      } catch (error) {
        throw providerFailure(error, 'The authorization code could not be exchanged');
      }
    },

    async refresh(refreshToken) {
      const oidc = await discover();
      try {
        return tokensFrom(await client.refreshTokenGrant(oidc, refreshToken));
      } catch (error) {
        throw providerFailure(error, 'The session could not be refreshed');
      }
    },

    async jwksUri() {
      const uri = (await discover()).serverMetadata().jwks_uri;
      return new URL(uri ?? `${config.issuerUrl}/.well-known/jwks.json`);
    },

    async userProfile(accessToken) {
      let response: Response;
      try {
        response = await fetch(`${config.issuerUrl}/oauth2/v2/user_profile`, {
          headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
          signal: AbortSignal.timeout(5_000),
        });
      } catch (error) {
        throw providerFailure(error, 'The user profile could not be fetched');
      }
      const body = (await response.json().catch(() => null)) as
        | (KindeUserProfile & { error?: string })
        | null;
      if (!response.ok || body === null || typeof body.id !== 'string') {
        const reason = body?.error ?? `HTTP ${response.status}`;
        throw new KindeAuthError(
          response.status >= 500 ? 'ERR_PROVIDER_UNAVAILABLE' : 'ERR_TOKEN_INVALID',
          `The user profile could not be fetched: ${reason}`,
        );
      }
      return body;
    },

    async revoke(token, hint) {
      const oidc = await discover();
      if (oidc.serverMetadata().revocation_endpoint === undefined) {
        throw new KindeAuthError('ERR_PROVIDER_ERROR', 'The provider publishes no revocation_endpoint');
      }
      try {
        await client.tokenRevocation(oidc, token, { token_type_hint: hint });
      } catch (error) {
        throw providerFailure(error, 'The token could not be revoked');
      }
    },

    logoutUrl(redirect = config.postLogoutRedirectUrl) {
      const url = new URL(`${config.issuerUrl}/logout`);
      url.searchParams.set('redirect', redirect);
      return url.href;
    },
  };
}
