import { randomBytes } from 'node:crypto';
import { findOrganization, findUser } from '../directory.js';
import type { Directory, Organization, Role, User } from '../types.js';

// Event names and payload shapes follow Kinde's docs (integrate/webhooks) and the types of
// @kinde/webhooks. Kinde has no separate membership events: adding a user to an organization or
// giving them a role or permission is a `user.updated` whose `organizations` show the change.

/** Events with a payload the emulator builds from the directory. */
export const DIRECTORY_EVENT_TYPES = [
  'user.created',
  'user.updated',
  'user.deleted',
  'user.authenticated',
  'user.authentication_failed',
  'organization.created',
  'organization.updated',
  'organization.deleted',
  'role.created',
  'role.updated',
  'role.deleted',
  'permission.created',
  'permission.updated',
  'permission.deleted',
  'subscriber.created',
  'access_request.created',
] as const;

/** Kinde's billing events: the emulator has no billing, so firing one by hand needs its `data`. */
export const BILLING_EVENT_TYPES = [
  'customer.agreement_cancelled',
  'customer.agreement_created',
  'customer.invoice_overdue',
  'customer.meter_usage_updated',
  'customer.payment_failed',
  'customer.payment_succeeded',
  'customer.plan_created',
  'customer.plan_assigned',
  'customer.plan_changed',
] as const;

/** Every event type a webhook can subscribe to. */
export const WEBHOOK_EVENT_TYPES: readonly string[] = [...DIRECTORY_EVENT_TYPES, ...BILLING_EVENT_TYPES];

/** Who caused an event, as Kinde reports it: the dashboard, the Management API, or the user. */
export type WebhookSource = 'admin' | 'api' | 'user';

/** A webhook event as Kinde signs it (the JWT payload). */
export interface WebhookEvent {
  type: string;
  data: Record<string, unknown>;
  /** `event_` and 32 hex digits. */
  event_id: string;
  /** ISO 8601, emulator clock. */
  event_timestamp: string;
  source: WebhookSource;
  /** ISO 8601, emulator clock (Kinde sends both). */
  timestamp: string;
}

/** Whether `type` is an event type webhooks can subscribe to. */
export function isEventType(type: unknown): type is string {
  return typeof type === 'string' && WEBHOOK_EVENT_TYPES.includes(type);
}

/** The id of a permission key: `perm_<key>`, as the Management and Account APIs report it. */
export function permissionId(key: string): string {
  return `perm_${key}`;
}

/** Builds the event envelope around `data` at the emulator time `nowSeconds`. */
export function buildEvent(
  type: string,
  data: Record<string, unknown>,
  source: WebhookSource,
  nowSeconds: number,
): WebhookEvent {
  const at = new Date(nowSeconds * 1000).toISOString();
  const event_id = `event_${randomBytes(16).toString('hex')}`;
  return { type, data, event_id, event_timestamp: at, source, timestamp: at };
}

/** `data` of user.created / user.updated: the user with their memberships. */
export function userData(user: User): Record<string, unknown> {
  return {
    user: {
      email: user.email,
      first_name: user.givenName,
      id: user.id,
      is_password_reset_requested: false,
      is_suspended: false,
      last_name: user.familyName,
      organizations: user.organizations.map((m) => ({
        code: m.orgCode,
        permissions: m.permissions.length
          ? m.permissions.map((key) => ({ id: permissionId(key), key }))
          : null,
        roles: m.roles.length ? [...m.roles] : null,
      })),
      phone: null,
      username: user.username ?? null,
    },
  };
}

/** `data` of organization.created / organization.updated. */
export function organizationData(org: Organization): Record<string, unknown> {
  return {
    organization: {
      code: org.code,
      external_id: null,
      handle: org.name.toLowerCase().replace(/[^a-z0-9]+/g, '_'),
      is_allow_registrations: true,
      name: org.name,
    },
  };
}

/** `data` of role.created / role.updated. */
export function roleData(role: Role): Record<string, unknown> {
  return { role: { description: '', id: role.id, is_default_role: false, key: role.key, name: role.name } };
}

/** `data` of permission.created / permission.updated. */
export function permissionData(key: string): Record<string, unknown> {
  return { permission: { description: '', id: permissionId(key), key, name: key } };
}

/** What a hand-fired event is about; unset parts default to the directory's first entry. */
export interface EventSubject {
  /** User id or email. */
  user?: string;
  /** Organization code. */
  org?: string;
  /** Role key. */
  role?: string;
  /** Permission key. */
  permission?: string;
}

function pick<T>(list: T[], found: T | undefined, named: string | undefined, what: string): T {
  const item = named === undefined ? list[0] : found;
  if (!item)
    throw new RangeError(named === undefined ? `the directory has no ${what}` : `no ${what} "${named}"`);
  return item;
}

function subjectUser(dir: Directory, s: EventSubject): User {
  return pick(dir.users, s.user ? findUser(dir, s.user) : undefined, s.user, 'user');
}

function subjectOrg(dir: Directory, s: EventSubject): Organization {
  return pick(dir.organizations, s.org ? findOrganization(dir, s.org) : undefined, s.org, 'organization');
}

function subjectRole(dir: Directory, s: EventSubject): Role {
  return pick(
    dir.roles,
    dir.roles.find((r) => r.key === s.role),
    s.role,
    'role',
  );
}

function subjectPermission(dir: Directory, s: EventSubject): string {
  const all = [...new Set(dir.users.flatMap((u) => u.organizations.flatMap((m) => m.permissions)))];
  return s.permission ?? pick(all, undefined, undefined, 'permission');
}

/**
 * The `data` of a directory event about `subject` (default: the first user, organization, role or
 * permission). Throws a RangeError for billing events (they need explicit data) or unknown subjects.
 */
export function sampleData(
  dir: Directory,
  type: string,
  subject: EventSubject = {},
): Record<string, unknown> {
  const [kind, action] = type.split('.') as [string, string];
  if (kind === 'user') {
    const user = subjectUser(dir, subject);
    return action === 'created' || action === 'updated' ? userData(user) : { user: { id: user.id } };
  }
  if (kind === 'organization') {
    const org = subjectOrg(dir, subject);
    return action === 'deleted' ? { organization: { code: org.code } } : organizationData(org);
  }
  if (kind === 'role') {
    const role = subjectRole(dir, subject);
    return action === 'deleted' ? { role: { id: role.id } } : roleData(role);
  }
  if (kind === 'permission') {
    const key = subjectPermission(dir, subject);
    return action === 'deleted' ? { permission: { id: permissionId(key) } } : permissionData(key);
  }
  const user = subjectUser(dir, subject);
  const person = {
    email: user.email,
    first_name: user.givenName,
    last_name: user.familyName,
    user_id: user.id,
  };
  if (kind === 'subscriber') return { subscriber: { ...person, id: user.id } };
  if (kind === 'access_request') return { access_request: person };
  throw new RangeError(`"${type}" has no directory payload: pass its "data"`);
}
