import { randomBytes } from 'node:crypto';

/** Opaque random handle (base64url, 32 bytes). */
export function randomHandle(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** An `/oauth2/auth` request waiting for the person to pick a user (a "login transaction"). */
export interface AuthRequest {
  clientId: string;
  redirectUri: string;
  state: string | undefined;
  scope: string[];
  audience: string[];
  nonce: string | undefined;
  codeChallenge: string | undefined;
  orgCode: string | undefined;
  isCreateOrg: boolean;
  orgName: string | undefined;
  loginHint: string | undefined;
  lang: string | undefined;
  prompt: string[];
  mode: 'login' | 'register';
  /** Kinde's other login parameters, checked (`connection_id`, `invitation_code`, `supports_reauth`, `utm_*`, …). */
  extras?: Record<string, string>;
  /** Unix seconds the request arrived (the `rat` claim). */
  requestedAt: number;
  /** Set once a user was picked and an organization is still to be chosen. */
  userId?: string;
  authTime?: number;
}

/** What an authorization code is bound to. */
export interface CodeGrant {
  clientId: string;
  redirectUri: string;
  codeChallenge: string | undefined;
  nonce: string | undefined;
  scope: string[];
  audience: string[];
  orgCode: string | undefined;
  userId: string;
  authTime: number;
  requestedAt: number;
  expiresAt: number;
  used: boolean;
  /** Refresh-token family created by exchanging this code (revoked if the code is replayed). */
  familyId?: string;
}

/** A refresh token and its lineage. */
export interface RefreshGrant {
  clientId: string;
  userId: string;
  scope: string[];
  audience: string[];
  orgCode: string | undefined;
  authTime: number;
  requestedAt: number;
  familyId: string;
  expiresAt: number;
  /** Unix seconds when it was exchanged for a newer one. */
  rotatedAt?: number;
  /** The access token issued with it (reused on refresh while unexpired, if configured). */
  accessToken?: string;
  accessExpiresAt?: number;
}

/** An SSO session on the emulator origin. */
export interface SsoSession {
  userId: string;
  authTime: number;
  orgCode: string | undefined;
}

/** A self-serve portal link minted by `/account_api/v1/portal_link`. */
export interface PortalLink {
  userId: string;
  clientId: string | undefined;
  /** The portal section (`subnav`), one of Kinde's `PortalPage` values. */
  subNav: string;
  /** Where the portal links back to; already checked against the application's allowed URLs. */
  returnUrl: string | undefined;
}

/** A map whose entries expire; expired entries are removed when read or swept. */
export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  constructor(private readonly now: () => number) {}

  set(key: string, value: V, ttlSeconds: number): void {
    this.entries.set(key, { value, expiresAt: this.now() + ttlSeconds });
    if (this.entries.size % 256 === 0) this.sweep();
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  values(): V[] {
    this.sweep();
    return [...this.entries.values()].map((e) => e.value);
  }

  /** Live entries with their keys and expiry (unix seconds), for the dashboard. */
  list(): { key: string; value: V; expiresAt: number }[] {
    this.sweep();
    return [...this.entries].map(([key, e]) => ({ key, value: e.value, expiresAt: e.expiresAt }));
  }

  clear(): void {
    this.entries.clear();
  }

  sweep(): void {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.expiresAt <= now) this.entries.delete(k);
  }
}

/** All protocol state the emulator keeps in memory. */
export class ProtocolStore {
  readonly transactions: ExpiringMap<AuthRequest>;
  readonly codes: ExpiringMap<CodeGrant>;
  readonly sessions: ExpiringMap<SsoSession>;
  readonly refreshTokens: ExpiringMap<RefreshGrant>;
  /** Refresh-token families revoked after reuse, code replay or revocation. */
  readonly revokedFamilies = new Set<string>();
  /** Revoked access-token ids (jti), via `/oauth2/revoke`. */
  readonly revokedJtis: ExpiringMap<true>;
  /** Portal links, by their one-off handle. */
  readonly portalLinks: ExpiringMap<PortalLink>;

  constructor(now: () => number) {
    this.transactions = new ExpiringMap(now);
    this.codes = new ExpiringMap(now);
    this.sessions = new ExpiringMap(now);
    this.refreshTokens = new ExpiringMap(now);
    this.revokedJtis = new ExpiringMap(now);
    this.portalLinks = new ExpiringMap(now);
  }

  /** Forgets everything (keeps keys and the directory). */
  clear(): void {
    this.transactions.clear();
    this.codes.clear();
    this.sessions.clear();
    this.refreshTokens.clear();
    this.revokedFamilies.clear();
    this.revokedJtis.clear();
    this.portalLinks.clear();
  }
}
