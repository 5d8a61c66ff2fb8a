import type { EmulatorContext, EndpointFailure, FailureTarget } from './context.js';
import { findApplication, findUser } from './directory.js';
import { issueUserTokens, type TokenResponse } from './grants.js';
import type { SigningKey } from './keys.js';
import { randomHandle } from './store.js';
import { signM2mToken } from './tokens.js';
import type { Application, Directory } from './types.js';
import { DirectoryError, validateDirectory } from './validate.js';

const TARGETS: FailureTarget[] = ['token', 'jwks', 'user_profile', 'discovery', 'revoke', 'account_api'];

/** How to make an endpoint fail, for resilience tests. */
export interface TokenFailureOptions {
  /** `down`: 503 `temporarily_unavailable`; `slow`: a normal answer after `delayMs`. */
  mode: 'down' | 'slow';
  /** Delay before answering (default 0 for `down`, 2000 for `slow`). */
  delayMs?: number;
  /** Number of requests affected; default: until cleared. */
  count?: number;
}

/** What {@link EmulatorControl.issueTokens} signs for. */
export interface IssueTokensOptions {
  /** Email or id of a directory user. */
  user: string;
  /** Default: the first application. */
  clientId?: string;
  /** Default `openid profile email offline`. */
  scope?: string[];
  audience?: string[];
  /** Default: the user's first organization. */
  orgCode?: string;
  nonce?: string;
}

const MERGE_KEYS = ['users', 'organizations', 'roles', 'applications', 'plans'];

/** `list` with each of `additions` merged over the entry `same` finds, or appended. */
function mergeList<T extends object>(
  list: T[],
  additions: unknown,
  name: string,
  same: (entry: T, addition: Record<string, unknown>) => boolean,
): T[] {
  if (additions === undefined) return list;
  if (!Array.isArray(additions)) throw new DirectoryError(name, 'must be an array');
  const out = [...list];
  additions.forEach((addition: unknown, i) => {
    if (!addition || typeof addition !== 'object' || Array.isArray(addition)) {
      throw new DirectoryError(`${name}[${i}]`, 'must be an object');
    }
    const a = addition as Record<string, unknown>;
    const at = out.findIndex((entry) => same(entry, a));
    if (at === -1) out.push(a as T);
    else out[at] = { ...out[at], ...a } as T;
  });
  return out;
}

/** Test controls, available from code (`emu.control`) and over HTTP (`/_emulator/...`). */
export class EmulatorControl {
  constructor(private readonly ctx: EmulatorContext) {}

  /** Current emulator time (unix seconds) and the offset from real time. */
  clock(): { now: number; offsetSeconds: number } {
    return { now: this.ctx.clock.now(), offsetSeconds: this.ctx.clock.offsetSeconds };
  }

  /** Sets the clock offset in seconds (0 = real time). */
  setClockOffset(seconds: number): void {
    if (!Number.isFinite(seconds)) throw new RangeError('"offsetSeconds" must be a number');
    this.ctx.clock.offsetSeconds = seconds;
  }

  /** Sets the emulator's "now" (unix seconds). */
  setNow(unixSeconds: number): void {
    if (!Number.isFinite(unixSeconds)) throw new RangeError('"now" must be unix seconds');
    this.ctx.clock.offsetSeconds = unixSeconds - Date.now() / 1000;
  }

  /** Moves the clock by `seconds`. */
  advanceClock(seconds: number): void {
    if (!Number.isFinite(seconds)) throw new RangeError('"advanceSeconds" must be a number');
    this.ctx.clock.advance(seconds);
  }

  /** Makes the token endpoint fail or slow down. */
  failTokenEndpoint(options: TokenFailureOptions): void {
    this.failEndpoint('token', options);
  }

  /**
   * Makes `token`, `jwks`, `user_profile` (all profile endpoints), `discovery`, `revoke`
   * (`/oauth2/revoke`) or `account_api` (every `/account_api/v1/*`) fail or slow down.
   */
  failEndpoint(target: FailureTarget, options: TokenFailureOptions): void {
    if (!TARGETS.includes(target)) throw new RangeError(`endpoint must be one of ${TARGETS.join(', ')}`);
    if (options.mode !== 'down' && options.mode !== 'slow')
      throw new RangeError('"mode" must be "down" or "slow"');
    const delayMs = options.delayMs ?? (options.mode === 'slow' ? 2000 : 0);
    if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 120_000) {
      throw new RangeError('"delayMs" must be an integer from 0 to 120000');
    }
    if (options.count !== undefined && (!Number.isInteger(options.count) || options.count < 1)) {
      throw new RangeError('"count" must be a positive integer');
    }
    const failure: EndpointFailure = { mode: options.mode, delayMs, remaining: options.count };
    this.ctx.failures[target] = failure;
  }

  /** Removes injected failures. */
  clearFailures(): void {
    this.ctx.failures = {};
  }

  /** Turns the headless login (`login_hint` signs in without a page) on or off. */
  setHeadlessLogin(enabled: boolean): void {
    this.ctx.headlessLogin = enabled;
  }

  /** Publishes the next signing key without signing with it (rotation in two steps). */
  async prepareKeyRotation(): Promise<SigningKey> {
    const key = await this.ctx.keys.prepareNext(this.ctx.clock.now());
    await this.ctx.onKeysChanged?.();
    return key;
  }

  /** Rotates the signing key: the new key signs; old keys stay published until their tokens expire. */
  async rotateKeys(): Promise<SigningKey> {
    const now = this.ctx.clock.now();
    const key = await this.ctx.keys.rotate(now);
    const { accessToken, idToken } = { ...this.ctx.directory.tokenLifetimes, ...this.ctx.lifetimeOverrides };
    this.ctx.keys.prune(now, Math.max(accessToken, idToken));
    await this.ctx.onKeysChanged?.();
    return key;
  }

  /** Replaces the directory (validated first; throws a DirectoryError naming the bad field). */
  setDirectory(directory: Directory | unknown): void {
    this.ctx.directory = validateDirectory(directory);
  }

  /**
   * Adds users, organizations, roles, applications and billing plans to the directory, or merges each
   * over the entry with the same key (user: id or email; organization: code; role: key; application:
   * clientId; plan: key), field
   * by field. The result is validated as a whole (a DirectoryError names the bad field). Unlike
   * `setDirectory`, nothing has to be sent back, so secrets (redacted by `GET /_emulator/directory`) stay.
   *
   * @example
   * emu.control.mergeDirectory({ users: [{ email: 'eve@example.test', givenName: 'Eve', familyName: 'E',
   *   organizations: [{ orgCode: 'org_0000000001', permissions: ['read:items'], roles: [] }] }] });
   */
  mergeDirectory(patch: unknown): void {
    if (!patch || typeof patch !== 'object' || Array.isArray(patch)) {
      throw new DirectoryError('(patch)', 'must be an object of users, organizations, roles, applications');
    }
    const p = patch as Record<string, unknown>;
    const unknown = Object.keys(p).filter((k) => !MERGE_KEYS.includes(k));
    if (unknown.length > 0) throw new DirectoryError(unknown[0] as string, 'is not a directory list');
    const dir = this.ctx.directory;
    const email = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : undefined);
    this.ctx.directory = validateDirectory({
      ...dir,
      users: mergeList(
        dir.users,
        p.users,
        'users',
        (a, b) => a.id === b.id || a.email.toLowerCase() === email(b.email),
      ),
      organizations: mergeList(
        dir.organizations,
        p.organizations,
        'organizations',
        (a, b) => a.code === b.code,
      ),
      roles: mergeList(dir.roles, p.roles, 'roles', (a, b) => a.key === b.key),
      applications: mergeList(
        dir.applications,
        p.applications,
        'applications',
        (a, b) => a.clientId === b.clientId,
      ),
      ...(p.plans !== undefined && {
        plans: mergeList(dir.plans ?? [], p.plans, 'plans', (a, b) => a.key === b.key),
      }),
    });
  }

  /**
   * Signs tokens for a user without the browser flow, exactly as the token endpoint would (useful for
   * Bearer tests). The refresh token, if any, works at `/oauth2/token`.
   *
   * @example
   * const { access_token } = await emu.control.issueTokens({ user: 'admin@example.test' });
   */
  async issueTokens(options: IssueTokensOptions): Promise<TokenResponse> {
    const user = findUser(this.ctx.directory, options.user);
    if (!user) throw new RangeError(`no user "${options.user}" in the directory`);
    const app = this.application(options.clientId);
    const orgCode = options.orgCode ?? user.organizations[0]?.orgCode;
    if (orgCode && !user.organizations.some((m) => m.orgCode === orgCode)) {
      throw new RangeError(`${user.email} is not a member of ${orgCode}`);
    }
    const now = this.ctx.clock.now();
    const grant = {
      issuer: this.issuer(),
      clientId: app.clientId,
      user,
      scope: options.scope ?? ['openid', 'profile', 'email', 'offline'],
      audience: options.audience ?? [],
      orgCode,
      nonce: options.nonce,
      authTime: now,
      requestedAt: now,
    };
    return issueUserTokens(this.ctx, grant, randomHandle(12), false);
  }

  /** The application named `clientId`, or the directory's first one. */
  private application(clientId: string | undefined): Application {
    const app = clientId ? findApplication(this.ctx.directory, clientId) : this.ctx.directory.applications[0];
    if (!app) throw new RangeError(`no application "${clientId}" in the directory`);
    return app;
  }

  /** Signs a client_credentials (M2M) access token for an application (default: the first). */
  async issueM2mToken(
    options: { clientId?: string; scope?: string[]; audience?: string[] } = {},
  ): Promise<string> {
    const app = this.application(options.clientId);
    return signM2mToken(this.ctx, this.issuer(), app, options.scope ?? [], options.audience ?? []);
  }

  private issuer(): string {
    if (!this.ctx.issuer) throw new Error('the emulator is not listening yet (no issuer URL)');
    return this.ctx.issuer;
  }

  /** Forgets sessions, codes, refresh tokens, the request and webhook delivery logs; keeps keys and the directory. */
  reset(): void {
    this.ctx.store.clear();
    this.ctx.requests.length = 0;
    this.ctx.webhooks?.clearLog();
    this.ctx.failures = {};
    this.ctx.clock.offsetSeconds = 0;
  }
}
