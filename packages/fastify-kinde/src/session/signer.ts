import { createHmac, timingSafeEqual } from 'node:crypto';
import { GenerationalCache } from '../cache.js';

/** Signs cookie values with HMAC-SHA256; the first secret signs, any secret verifies (rotation). */
export interface CookieSigner {
  sign(value: string): string;
  /** The value when the signature holds; `rotated` when an older secret signed it. */
  unsign(signed: string): { value: string; rotated: boolean } | undefined;
}

/** Characters of an unpadded base64url HMAC-SHA256 (32 bytes). */
const SIGNATURE_LENGTH = 43;

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
export function createCookieSigner(secrets: readonly string[], cacheEntries = 10_000): CookieSigner {
  if (secrets.length === 0) throw new TypeError('at least one secret is required');
  const [first] = secrets as [string, ...string[]];
  // Values whose signature already verified: a returning cookie costs a Map lookup, not an HMAC.
  // Only verified strings are kept, keyed by the whole signed value, and the secrets never change.
  const verified = new GenerationalCache<string, { value: string; rotated: boolean }>(cacheEntries);
  const check = (signed: string): { value: string; rotated: boolean } | undefined => {
    const dot = signed.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const value = signed.slice(0, dot);
    const signature = signed.slice(dot + 1);
    // Node's base64 decoder is lenient: it accepts '+/', padding, stray characters and non-zero
    // trailing bits, so many strings decode to the same 32 bytes. Only the one spelling that
    // sign() makes is accepted, so one valid cookie never yields other valid ones.
    if (signature.length !== SIGNATURE_LENGTH) return undefined;
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== 32 || given.toString('base64url') !== signature) return undefined;
    for (let i = 0; i < secrets.length; i++) {
      if (timingSafeEqual(given, mac(value, secrets[i]!))) return { value, rotated: i > 0 };
    }
    return undefined;
  };
  return {
    sign(value) {
      return `${value}.${mac(value, first).toString('base64url')}`;
    },
    unsign(signed) {
      const known = verified.get(signed);
      if (known !== undefined) return known;
      const result = check(signed);
      if (result !== undefined && cacheEntries > 0) {
        verified.set(signed, result);
      }
      return result;
    },
  };
}
