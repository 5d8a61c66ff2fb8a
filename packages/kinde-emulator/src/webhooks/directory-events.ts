import type { EmulatorContext } from '../context.js';
import { type DirectoryChange, onDirectoryWrite } from '../directory-writes.js';
import { organizationData, userData, type WebhookSource } from './events.js';
import type { Webhooks } from './hub.js';

/** A webhook event to emit: its type and `data`. */
export interface DirectoryEvent {
  type: string;
  data: Record<string, unknown>;
}

/**
 * The events Kinde sends for one directory change. Kinde has no membership events: joining or
 * leaving an organization, or gaining or losing a role or permission in one, is a `user.updated`
 * whose `organizations` show the user's current memberships. Kinde has no feature-flag events
 * either (docs.kinde.com, "Add and manage webhooks", the list of triggers), so a flag change sends
 * nothing.
 */
export function changeEvents(change: DirectoryChange): DirectoryEvent[] {
  switch (change.kind) {
    case 'user.created':
    case 'user.updated':
      return [{ type: change.kind, data: userData(change.user) }];
    case 'user.deleted':
      // Kinde's user.deleted carries the id only; the user is already gone from the directory.
      return [{ type: 'user.deleted', data: { user: { id: change.user.id } } }];
    case 'organization.created':
      return [{ type: 'organization.created', data: organizationData(change.organization) }];
    case 'membership.added':
    case 'membership.removed':
    case 'membership.role_added':
    case 'membership.role_removed':
    case 'membership.permission_added':
    case 'membership.permission_removed':
      return [{ type: 'user.updated', data: userData(change.user) }];
    case 'permission.created': {
      const { id, key, name, description } = change.permission;
      return [
        {
          type: 'permission.created',
          data: { permission: { description: description ?? '', id, key, name } },
        },
      ];
    }
    case 'feature_flag.set':
      return [];
    default:
      return unhandled(change);
  }
}

// A new kind of change fails to compile here until someone decides what Kinde sends for it.
function unhandled(change: never): DirectoryEvent[] {
  throw new RangeError(`no webhook mapping for directory change ${JSON.stringify(change)}`);
}

function userId(change: DirectoryChange): string | undefined {
  return 'user' in change ? change.user.id : undefined;
}

/**
 * The events for the changes of one write call, in order. A call that changes a user several times
 * (a PATCH of organization users with roles and permissions) sends one `user.updated` per user.
 */
export function batchEvents(changes: DirectoryChange[]): DirectoryEvent[] {
  const updated = new Set<string>();
  const out: DirectoryEvent[] = [];
  for (const change of changes) {
    for (const event of changeEvents(change)) {
      const id = userId(change);
      if (event.type === 'user.updated' && id !== undefined) {
        if (updated.has(id)) continue;
        updated.add(id);
      }
      out.push(event);
    }
  }
  return out;
}

/**
 * Emits the webhook events of every directory write on `ctx` (the Management API's, hence
 * `source: 'api'`). Changes are collected until the write call returns (the end of the current
 * task), so `data` shows the user as the whole call left them. Returns a function that unsubscribes.
 */
export function emitDirectoryEvents(
  ctx: EmulatorContext,
  webhooks: Webhooks,
  source: WebhookSource = 'api',
): () => void {
  let pending: DirectoryChange[] = [];
  const flush = () => {
    const changes = pending;
    pending = [];
    for (const { type, data } of batchEvents(changes)) {
      // A throw here would be an uncaught exception in a microtask: the write already succeeded.
      try {
        webhooks.emit(type, data, source);
      } catch {}
    }
  };
  return onDirectoryWrite(ctx, (change) => {
    if (pending.length === 0) queueMicrotask(flush);
    pending.push(change);
  });
}
