import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

/** A WebCrypto key as jose returns it. */
export type CryptoKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** One RS256 signing key. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  /** Unix seconds. */
  createdAt: number;
  /** Unix seconds when it stopped signing (set by rotation). */
  retiredAt?: number;
}

/** Private key material as written to a key file. */
export interface StoredKey {
  kid: string;
  privateJwk: JWK;
  createdAt: number;
  retiredAt?: number;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomAlnum(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ALNUM[b % ALNUM.length];
  return out;
}

/**
 * True when a JWT header with this kid encodes without `-` or `_`: `@kinde/jwt-validator` decodes the
 * header with a bare `atob()`, which rejects those characters.
 */
export function isAtobSafeKid(kid: string): boolean {
  if (!/^[A-Za-z0-9:.]+$/.test(kid)) return false;
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid, typ: 'JWT' })).toString('base64url');
  return !/[-_]/.test(header);
}

/** A new kid made of `[A-Za-z0-9:.]` whose JWT header is atob-safe. */
export function newKid(): string {
  for (;;) {
    const kid = `emu.${randomAlnum(16)}`;
    if (isAtobSafeKid(kid)) return kid;
  }
}

/** Generates a fresh 2048-bit RS256 signing key. */
export async function generateSigningKey(nowSeconds: number): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', {
    modulusLength: 2048,
    extractable: true,
  });
  const kid = newKid();
  const jwk = await exportJWK(publicKey);
  return {
    kid,
    privateKey,
    publicKey,
    publicJwk: { kty: 'RSA', n: jwk.n, e: jwk.e, kid, use: 'sig', alg: 'RS256' },
    createdAt: nowSeconds,
  };
}

/** Serialises a key (including its private part) for a dev key file. */
export async function storeKey(key: SigningKey): Promise<StoredKey> {
  const privateJwk = await exportJWK(key.privateKey);
  const stored: StoredKey = { kid: key.kid, privateJwk, createdAt: key.createdAt };
  if (key.retiredAt !== undefined) stored.retiredAt = key.retiredAt;
  return stored;
}

/** Restores a key written by {@link storeKey}. */
export async function loadKey(stored: StoredKey): Promise<SigningKey> {
  if (!isAtobSafeKid(stored.kid)) throw new Error(`key file: kid "${stored.kid}" is not atob-safe`);
  const privateKey = (await importJWK({ ...stored.privateJwk, alg: 'RS256' }, 'RS256', {
    extractable: true,
  })) as CryptoKey;
  const { n, e } = stored.privateJwk;
  if (typeof n !== 'string' || typeof e !== 'string') throw new Error('key file: RSA key without n/e');
  const publicJwk: JWK = { kty: 'RSA', n, e, kid: stored.kid, use: 'sig', alg: 'RS256' };
  const publicKey = (await importJWK(publicJwk, 'RS256')) as CryptoKey;
  const key: SigningKey = {
    kid: stored.kid,
    privateKey,
    publicKey,
    publicJwk,
    createdAt: stored.createdAt,
  };
  if (stored.retiredAt !== undefined) key.retiredAt = stored.retiredAt;
  return key;
}

/**
 * The emulator's signing keys: one active key signs, every key still needed for verification is
 * published in the JWKS. Rotation publishes the new key and keeps the old one published until the
 * longest-lived token it signed has expired.
 */
export class KeyRing {
  /** Newest last; the active key is the newest one that is not `pending`. */
  readonly keys: SigningKey[];
  /** A key published in the JWKS that does not sign yet (see {@link KeyRing.prepareNext}). */
  pending: SigningKey | undefined;

  constructor(keys: SigningKey[]) {
    if (keys.length === 0) throw new Error('KeyRing needs at least one key');
    this.keys = keys;
  }

  /** The key that signs new tokens. */
  get active(): SigningKey {
    return this.keys[this.keys.length - 1] as SigningKey;
  }

  /** Keys to publish: all kept keys plus a pending one. */
  publicJwks(): { keys: JWK[] } {
    const all = this.pending ? [...this.keys, this.pending] : this.keys;
    return { keys: all.map((k) => ({ ...k.publicJwk })) };
  }

  /** Finds a published key by kid. */
  find(kid: string): SigningKey | undefined {
    if (this.pending?.kid === kid) return this.pending;
    return this.keys.find((k) => k.kid === kid);
  }

  /** Publishes a new key without signing with it yet, so caches can pick it up before rotation. */
  async prepareNext(nowSeconds: number): Promise<SigningKey> {
    this.pending ??= await generateSigningKey(nowSeconds);
    return this.pending;
  }

  /** Makes the pending (or a new) key the signing key; the old one stays published. */
  async rotate(nowSeconds: number): Promise<SigningKey> {
    const next = this.pending ?? (await generateSigningKey(nowSeconds));
    this.pending = undefined;
    this.active.retiredAt = nowSeconds;
    this.keys.push(next);
    return next;
  }

  /** Drops retired keys whose tokens have all expired (retired longer than `maxTtl` seconds ago). */
  prune(nowSeconds: number, maxTtl: number): void {
    for (let i = this.keys.length - 2; i >= 0; i--) {
      const key = this.keys[i] as SigningKey;
      if (key.retiredAt !== undefined && key.retiredAt + maxTtl < nowSeconds) this.keys.splice(i, 1);
    }
  }
}
