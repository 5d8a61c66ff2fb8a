import { createHmac, timingSafeEqual } from 'node:crypto';

/** Signs cookie values with HMAC-SHA256; the first secret signs, any secret verifies (rotation). */
export interface CookieSigner {
  sign(value: string): string;
  /** The value when the signature holds; `rotated` when an older secret signed it. */
  unsign(signed: string): { value: string; rotated: boolean } | undefined;
}

function mac(value: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(value).digest();
}

/**
 * @example
 * ```ts
 * const signer = createCookieSigner(['new-secret…', 'old-secret…']);
 * signer.unsign(signer.sign('abc')); // { value: 'abc', rotated: false }
 * ```
 */
export function createCookieSigner(secrets: readonly string[]): CookieSigner {
  if (secrets.length === 0) throw new TypeError('at least one secret is required');
  const [first] = secrets as [string, ...string[]];
  return {
    sign(value) {
      return `${value}.${mac(value, first).toString('base64url')}`;
    },
    unsign(signed) {
      const dot = signed.lastIndexOf('.');
      if (dot <= 0) return undefined;
      const value = signed.slice(0, dot);
      const given = Buffer.from(signed.slice(dot + 1), 'base64url');
      if (given.length !== 32) return undefined;
      for (let i = 0; i < secrets.length; i++) {
        if (timingSafeEqual(given, mac(value, secrets[i]!))) return { value, rotated: i > 0 };
      }
      return undefined;
    },
  };
}
