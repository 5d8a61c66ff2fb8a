import {
  createCipheriv,
  createDecipheriv,
  createHash,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GenerationalCache } from './cache.js';
import type { KindeConfig } from './config.js';
import { clearCookie, readCookie, readCookies, setCookie } from './cookies.js';
import { KindeAuthError } from './errors.js';

/** A login attempt: what the callback must check. Sealed in its own cookie, never stored server-side. */
export interface LoginAttempt {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Where to land after login: a same-origin path checked by `safeReturnTo`. */
  returnTo: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  /** The route that began it (`login`, `register`, `create_org`), for the audit trail. */
  method?: string;
  /** True for a silent login (`prompt=none`): "not signed in" answers return to `returnTo`. */
  silent?: boolean;
}

/** Login attempts bound to the browser that started them, each taken at most once. */
export interface LoginAttempts {
  /** Seals `attempt` into a cookie of its own, and drops this browser's oldest attempts past the bound. */
  begin(request: FastifyRequest, reply: FastifyReply, attempt: Omit<LoginAttempt, 'expiresAt'>): void;
  /**
   * Takes the attempt named by `state` from this browser, once: clears its cookie, leaves the other
   * attempts alone. Throws `ERR_STATE_MISSING`, `ERR_STATE_MISMATCH` or `ERR_LOGIN_EXPIRED`.
   */
  take(request: FastifyRequest, reply: FastifyReply, state: string | null): LoginAttempt;
}

/** How long a login may take, from the login route to the callback. */
const ATTEMPT_TTL_MS = 10 * 60_000;
/** The most attempts one browser keeps at once (tabs logging in together); older ones are dropped. */
const MAX_ATTEMPTS_PER_BROWSER = 5;
/**
 * The most bytes of attempt cookies one browser keeps: five attempts with 2,048-character paths would
 * otherwise come near the 16 KB header limit of Node, and every request to the auth routes carries them.
 */
const MAX_ATTEMPT_BYTES = 8_192;
/** Consumed states remembered by this process, so that a replay is refused before the provider. */
const CONSUMED_ENTRIES = 20_000;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const AAD = Buffer.from('fastify-kinde login attempt v1');

/** One AES-256-GCM key per session secret (HKDF-SHA256): the first seals, any opens (rotation). */
function deriveKeys(secrets: readonly string[]): Buffer[] {
  return secrets.map((secret) =>
    Buffer.from(hkdfSync('sha256', secret, 'fastify-kinde', 'login-attempt-cookie v1', 32)),
  );
}

/** The folder shared by the routes, so the cookies reach login (for the bound) and the callback only. */
function commonFolder(paths: readonly string[]): string {
  const folders = paths.map((p) => p.split('/').slice(0, -1));
  let common = folders[0] ?? [];
  for (const folder of folders) {
    let i = 0;
    while (i < common.length && i < folder.length && common[i] === folder[i]) i++;
    common = common.slice(0, i);
  }
  return common.join('/') || '/';
}

function seal(key: Buffer, attempt: LoginAttempt): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(AAD);
  const json = JSON.stringify([
    attempt.state,
    attempt.nonce,
    attempt.codeVerifier,
    attempt.returnTo,
    attempt.expiresAt,
    ...(attempt.method === undefined && !attempt.silent ? [] : [attempt.method ?? '']),
    ...(attempt.silent ? [1] : []),
  ]);
  const body = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

function decode(json: string): LoginAttempt | undefined {
  const value: unknown = JSON.parse(json);
  if (!Array.isArray(value) || value.length < 5 || value.length > 7) return undefined;
  const [state, nonce, codeVerifier, returnTo, expiresAt, method, silent] = value as unknown[];
  if (typeof state !== 'string' || typeof nonce !== 'string' || typeof codeVerifier !== 'string')
    return undefined;
  if (typeof returnTo !== 'string' || typeof expiresAt !== 'number') return undefined;
  if (method !== undefined && typeof method !== 'string') return undefined;
  if (silent !== undefined && silent !== 1) return undefined;
  return {
    state,
    nonce,
    codeVerifier,
    returnTo,
    expiresAt,
    ...(method === undefined || method === '' ? {} : { method }),
    ...(silent === 1 ? { silent: true } : {}),
  };
}

/** The attempt sealed in `sealed`, when one of `keys` sealed it; undefined for anything else. */
function open(keys: readonly Buffer[], sealed: string): LoginAttempt | undefined {
  const raw = Buffer.from(sealed, 'base64url');
  // One spelling per cookie: base64url that does not round-trip (stray bits, padding) is refused.
  if (raw.length <= IV_BYTES + TAG_BYTES || raw.toString('base64url') !== sealed) return undefined;
  const iv = raw.subarray(0, IV_BYTES);
  const body = raw.subarray(IV_BYTES, raw.length - TAG_BYTES);
  const tag = raw.subarray(raw.length - TAG_BYTES);
  for (const key of keys) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv).setAAD(AAD).setAuthTag(tag);
      const json = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
      return decode(json);
    } catch {
      // Another key, or not ours.
    }
  }
  return undefined;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Builds the login-attempt cookies of one plugin instance.
 *
 * Each attempt lives in a cookie of its own, named after a hash of its `state`, sealed with
 * AES-256-GCM under a key derived from the session secret: nothing is written to the session store
 * for an anonymous visitor, so no flood of logins can evict or crowd out a session. Parallel logins
 * in several tabs each keep their own attempt; a callback touches only the attempt its `state` names.
 *
 * @example
 * ```ts
 * const attempts = createLoginAttempts(config);
 * attempts.begin(request, reply, { state, nonce, codeVerifier, returnTo: '/' });
 * // … later, in the callback:
 * const attempt = attempts.take(request, reply, params.get('state'));
 * ```
 */
export function createLoginAttempts(config: KindeConfig): LoginAttempts {
  const keys = deriveKeys(config.sessionSecrets);
  const { login, register, createOrg, callback } = config.routes;
  const cookiePath = commonFolder([login, register, createOrg, callback]);
  const prefix = config.secureCookies ? '__Secure-kinde_login_' : 'kinde_login_';
  const options = {
    path: cookiePath,
    httpOnly: true,
    sameSite: 'lax',
    secure: config.secureCookies,
  } as const;
  // States taken by this process: a replayed callback is refused here, before the provider sees the
  // code again. Across processes the provider's single-use code is what refuses it.
  const consumed = new GenerationalCache<string, number>(CONSUMED_ENTRIES);
  const cookieName = (state: string) =>
    prefix + createHash('sha256').update(state).digest('base64url').slice(0, 12);

  /**
   * Keeps the newest readable attempts that leave room for one more (`MAX_ATTEMPTS_PER_BROWSER` and
   * `MAX_ATTEMPT_BYTES` in all); clears the rest.
   */
  function prune(request: FastifyRequest, reply: FastifyReply, room: number): void {
    const kept: { name: string; bytes: number; expiresAt: number }[] = [];
    for (const [name, value] of Object.entries(readCookies(request.headers.cookie))) {
      if (!name.startsWith(prefix) || value === undefined) continue;
      const attempt = open(keys, value);
      if (attempt !== undefined && attempt.expiresAt > config.now() && cookieName(attempt.state) === name) {
        kept.push({ name, bytes: name.length + value.length, expiresAt: attempt.expiresAt });
      } else clearCookie(reply, name, options);
    }
    kept.sort((a, b) => b.expiresAt - a.expiresAt);
    let bytes = room;
    for (const [i, attempt] of kept.entries()) {
      bytes += attempt.bytes;
      if (i >= MAX_ATTEMPTS_PER_BROWSER - 1 || bytes > MAX_ATTEMPT_BYTES)
        clearCookie(reply, attempt.name, options);
    }
  }

  return {
    begin(request, reply, attempt) {
      const name = cookieName(attempt.state);
      const sealed = seal(keys[0]!, { ...attempt, expiresAt: config.now() + ATTEMPT_TTL_MS });
      prune(request, reply, name.length + sealed.length);
      setCookie(reply, name, sealed, { ...options, maxAge: ATTEMPT_TTL_MS / 1000 });
    },
    take(request, reply, state) {
      if (!state) {
        throw new KindeAuthError(
          'ERR_STATE_MISMATCH',
          'The callback carries no state. Start the login again.',
        );
      }
      const name = cookieName(state);
      const sealed = readCookie(request.headers.cookie, name);
      if (sealed === undefined) {
        throw new KindeAuthError(
          'ERR_STATE_MISSING',
          'This sign-in cannot be matched to a login started in this browser: no login cookie matches the state the provider returned.',
        );
      }
      clearCookie(reply, name, options);
      const attempt = open(keys, sealed);
      if (attempt === undefined || !sameText(attempt.state, state)) {
        throw new KindeAuthError(
          'ERR_STATE_MISMATCH',
          "The state returned by the provider does not match this browser's login. Start the login again.",
        );
      }
      const now = config.now();
      if (attempt.expiresAt <= now || (consumed.get(state) ?? 0) > now) {
        throw new KindeAuthError(
          'ERR_LOGIN_EXPIRED',
          'This login has already been used or has expired. Start the login again.',
        );
      }
      consumed.set(state, attempt.expiresAt);
      return attempt;
    },
  };
}
