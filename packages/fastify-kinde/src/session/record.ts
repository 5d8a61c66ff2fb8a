/**
 * The user as Kinde's SDKs describe it (`getUser()`, the Next.js SDK's `KindeUser`). A session stores
 * the first five; `getUser()` adds the rest from the tokens.
 */
export interface KindeUser {
  id: string;
  email: string | null;
  given_name: string | null;
  family_name: string | null;
  picture: string | null;
  /** The `preferred_username` claim. */
  username?: string | null;
  /** The `phone_number` claim. */
  phone_number?: string | null;
  /** `user_properties` of the ID and access tokens, by Kinde key (`kp_usr_city`), plus short names (`city`). */
  properties?: Record<string, unknown>;
}

/** The provider's `/oauth2/v2/user_profile` answer (Kinde's v2 shape). */
export interface KindeUserProfile {
  id: string;
  sub?: string;
  provided_id?: string | null;
  name?: string | null;
  given_name?: string | null;
  family_name?: string | null;
  updated_at?: number;
  email?: string | null;
  email_verified?: boolean;
  picture?: string | null;
  preferred_username?: string | null;
  [claim: string]: unknown;
}

/** JWT claims, as verified when they were stored. */
export type Claims = Readonly<Record<string, unknown>>;

/**
 * One server-side session. Stored whole and replaced, never mutated. Claims were verified when
 * the tokens arrived, so a request never checks a signature again.
 */
export interface SessionRecord {
  v: 1;
  user: KindeUser;
  accessToken: string;
  accessClaims: Claims;
  /** Milliseconds since the epoch; from the access token's `exp`. */
  accessExpiresAt: number;
  idToken: string | null;
  idClaims: Claims;
  refreshToken: string | null;
  /** Milliseconds since the epoch; the absolute lifetime counts from here. */
  createdAt: number;
  /** Milliseconds since the epoch of the last refresh, if any. */
  refreshedAt?: number;
  /** The user profile, once fetched. */
  profile?: KindeUserProfile;
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/**
 * Reads the user from verified claims, the way Kinde's SDKs do: an ID token's for a session, or a
 * bearer access token's (where Kinde puts `email` and the names only when configured to).
 */
export function userFromClaims(claims: Claims): KindeUser {
  return {
    id: String(claims.sub),
    email: text(claims.email),
    given_name: text(claims.given_name),
    family_name: text(claims.family_name),
    picture: text(claims.picture),
  };
}

/**
 * A random value with 256 bits of entropy, URL- and cookie-safe: session ids, login state and
 * nonce, lease tokens, and the ephemeral development session secret.
 */
export function randomId(): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
}
