import type { Application, Directory, FlagValue, Membership, Organization, Role, User } from './types.js';

/** Client id of the built-in development application. */
export const DEFAULT_CLIENT_ID = 'emu_client_id_0001';
/** Client secret of the built-in development application (40-60 alphanumerics, as Kinde's SDK requires). */
export const DEFAULT_CLIENT_SECRET = 'EmulatorDevSecret0000000000000000000000000001';
/** Kinde's default token lifetimes, in seconds. */
export const KINDE_DEFAULT_LIFETIMES = { accessToken: 86_400, idToken: 3_600, refreshToken: 1_296_000 };

const DEFAULT_DIRECTORY: Directory = {
  organizations: [{ code: 'org_0000000001', name: 'Default Org' }],
  roles: [{ id: '018ee9aa-0000-7000-8000-000000000001', key: 'admin', name: 'Admin' }],
  users: [
    {
      id: 'kp_0123456789abcdef0123456789abcdef',
      email: 'admin@example.test',
      givenName: 'Ada',
      familyName: 'Admin',
      emailVerified: true,
      picture: null,
      organizations: [
        {
          orgCode: 'org_0000000001',
          permissions: ['read:items', 'write:items', 'delete:items'],
          roles: ['admin'],
          featureFlags: { dark_mode: true, theme: 'pink', max_items: 5 },
        },
      ],
    },
    {
      id: 'kp_fedcba9876543210fedcba9876543210',
      email: 'user@example.test',
      givenName: 'Uma',
      familyName: 'User',
      emailVerified: true,
      picture: null,
      organizations: [
        {
          orgCode: 'org_0000000001',
          permissions: ['read:items'],
          roles: [],
          featureFlags: { dark_mode: false },
        },
      ],
    },
  ],
  applications: [
    {
      name: 'Development app',
      clientId: DEFAULT_CLIENT_ID,
      clientSecret: DEFAULT_CLIENT_SECRET,
      grants: ['authorization_code', 'refresh_token', 'client_credentials'],
      redirectUris: [],
      logoutUris: [],
      allowLoopbackRedirects: true,
    },
  ],
  tokenLifetimes: { ...KINDE_DEFAULT_LIFETIMES },
  refreshGraceSeconds: 5,
};

/**
 * A fresh deep copy of the built-in directory: an admin (`admin@example.test`), a plain user
 * (`user@example.test`), one organization and one development application.
 *
 * @example
 * const dir = defaultDirectory();
 * dir.users.push({ id: 'kp_...', email: 'eve@example.test', givenName: 'Eve', familyName: 'E', organizations: [] });
 */
export function defaultDirectory(): Directory {
  return structuredClone(DEFAULT_DIRECTORY);
}

/** Finds an application by client id. */
export function findApplication(dir: Directory, clientId: string): Application | undefined {
  return dir.applications.find((a) => a.clientId === clientId);
}

/** Finds a user by id or (case-insensitive) email. */
export function findUser(dir: Directory, idOrEmail: string): User | undefined {
  const lower = idOrEmail.toLowerCase();
  return dir.users.find((u) => u.id === idOrEmail || u.email.toLowerCase() === lower);
}

/** Finds an organization by code. */
export function findOrganization(dir: Directory, code: string): Organization | undefined {
  return dir.organizations.find((o) => o.code === code);
}

/** The full name as Kinde puts it in `name`. */
export function fullName(user: User): string {
  return [user.givenName, user.familyName].filter(Boolean).join(' ');
}

/** A feature flag in Kinde's claim form. */
export interface FlagClaim {
  t: 'b' | 'i' | 's';
  v: FlagValue;
}

function flagClaim(value: FlagValue): FlagClaim {
  if (typeof value === 'boolean') return { t: 'b', v: value };
  if (typeof value === 'number') return { t: 'i', v: value };
  return { t: 's', v: value };
}

/** Claims that depend on the organization a user signed in to. */
export interface OrgClaims {
  orgCode: string;
  orgName: string;
  permissions: string[];
  roles: Role[];
  featureFlags: Record<string, FlagClaim>;
}

/** Resolves a user's membership of `orgCode` into claim values (undefined if not a member). */
export function orgClaims(dir: Directory, user: User, orgCode: string): OrgClaims | undefined {
  const membership: Membership | undefined = user.organizations.find((m) => m.orgCode === orgCode);
  if (!membership) return undefined;
  const org = findOrganization(dir, orgCode);
  const flags: Record<string, FlagClaim> = {};
  const merged = { ...dir.featureFlags, ...org?.featureFlags, ...membership.featureFlags };
  for (const key of Object.keys(merged).sort()) flags[key] = flagClaim(merged[key] as FlagValue);
  const roles = membership.roles
    .map((key) => dir.roles.find((r) => r.key === key))
    .filter((r): r is Role => r !== undefined)
    .map((r) => ({ id: r.id, key: r.key, name: r.name }));
  return {
    orgCode,
    orgName: org?.name ?? orgCode,
    permissions: [...membership.permissions],
    roles,
    featureFlags: flags,
  };
}
