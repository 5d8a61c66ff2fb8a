/**
 * Stable error codes of fastify-kinde. Callers branch on `code`, never on message text.
 */
export type KindeErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_NOT_AUTHENTICATED'
  | 'ERR_MISSING_PERMISSION'
  | 'ERR_STATE_MISSING'
  | 'ERR_STATE_MISMATCH'
  | 'ERR_LOGIN_EXPIRED'
  | 'ERR_PROVIDER_ERROR'
  | 'ERR_CODE_EXCHANGE'
  | 'ERR_TOKEN_INVALID'
  | 'ERR_PROVIDER_UNAVAILABLE'
  | 'ERR_BAD_REQUEST'
  | 'ERR_FLAG'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_CROSS_SITE'
  | 'ERR_PROVIDER_RESPONSE';

const STATUS: Record<KindeErrorCode, number> = {
  ERR_CONFIG: 500,
  ERR_NOT_AUTHENTICATED: 401,
  ERR_MISSING_PERMISSION: 403,
  ERR_STATE_MISSING: 400,
  ERR_STATE_MISMATCH: 400,
  ERR_LOGIN_EXPIRED: 400,
  ERR_PROVIDER_ERROR: 400,
  ERR_CODE_EXCHANGE: 400,
  ERR_TOKEN_INVALID: 401,
  ERR_PROVIDER_UNAVAILABLE: 503,
  ERR_BAD_REQUEST: 400,
  ERR_FLAG: 500,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_CROSS_SITE: 403,
  /** The provider answered, but not with something usable (e.g. a portal link that is not https). */
  ERR_PROVIDER_RESPONSE: 502,
};

/**
 * The one error class of fastify-kinde. `statusCode` is derived from `code` in one place.
 *
 * @example
 * ```ts
 * try { resolveConfig({}) } catch (e) { if (e instanceof KindeAuthError && e.code === 'ERR_CONFIG') … }
 * ```
 */
export class KindeAuthError extends Error {
  override readonly name = 'KindeAuthError';
  readonly code: KindeErrorCode;
  readonly statusCode: number;
  /** Extra, non-secret facts a page or log may show (e.g. the provider's `error`). */
  readonly details: Readonly<Record<string, string>>;

  constructor(
    code: KindeErrorCode,
    message: string,
    details: Record<string, string> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.statusCode = STATUS[code];
    this.details = details;
  }
}
