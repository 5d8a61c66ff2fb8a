import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { KindeConfig } from './config.js';
import { KindeAuthError } from './errors.js';
import type { Claims } from './session/record.js';

/** Verifies Kinde access tokens locally against the issuer's JWKS (cached by jose). */
export interface TokenVerifier {
  verify(token: string): Promise<Claims>;
}

/**
 * RS256 only, exact issuer, the configured audience when there is one, 5 s clock tolerance.
 * The JWKS is cached; an unknown `kid` refetches at most once per 30 s cooldown.
 */
export function createTokenVerifier(config: KindeConfig, jwksUri: () => Promise<URL>): TokenVerifier {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const options = {
    issuer: config.issuerUrl,
    algorithms: ['RS256'],
    clockTolerance: 5,
    requiredClaims: ['exp'],
    ...(config.audience.length > 0 ? { audience: config.audience } : {}),
  };

  return {
    async verify(token) {
      jwks ??= createRemoteJWKSet(await jwksUri(), { cooldownDuration: 30_000, timeoutDuration: 5_000 });
      try {
        const { payload } = await jwtVerify(token, jwks, options);
        return payload;
      } catch (error) {
        if (error instanceof joseErrors.JWKSTimeout || (error as Error).name === 'TypeError') {
          throw new KindeAuthError(
            'ERR_PROVIDER_UNAVAILABLE',
            'The signing keys could not be fetched',
            {},
            { cause: error },
          );
        }
        const reason = error instanceof joseErrors.JOSEError ? error.code : 'ERR_JWT_INVALID';
        throw new KindeAuthError(
          'ERR_TOKEN_INVALID',
          `The access token was rejected (${reason})`,
          { reason },
          { cause: error },
        );
      }
    },
  };
}
