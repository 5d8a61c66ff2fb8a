import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { KindeContext } from './context.js';

/** What a guard demands of the caller. An empty requirement means: authenticated. */
export interface GuardRequirement {
  /** Every one of these permissions. */
  permissions?: readonly string[];
  /** At least one of these permissions. */
  anyPermission?: readonly string[];
}

/** Marks guard functions so the plugin (and OpenAPI) can tell what a route requires. */
export const KINDE_GUARD: unique symbol = Symbol.for('fastify-kinde.guard');

/** An `onRequest`/`preHandler` hook that lets a request through only when its caller meets the requirement. */
export type KindeGuard = ((
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
) => void) & {
  readonly [KINDE_GUARD]: GuardRequirement;
};

const NOT_REGISTERED =
  'fastify-kinde is not registered on this instance: register it before the routes it guards';

function permissionsOf(kinde: KindeContext): readonly string[] {
  const claim = kinde.getClaim('permissions');
  return Array.isArray(claim) ? (claim as string[]) : [];
}

/** The reason a caller is refused, or undefined when it passes. */
function refusal(kinde: KindeContext, requirement: GuardRequirement): string | undefined {
  const granted = requirement.permissions || requirement.anyPermission ? permissionsOf(kinde) : [];
  for (const permission of requirement.permissions ?? []) {
    if (!granted.includes(permission)) return `Missing permission: ${permission}`;
  }
  const any = requirement.anyPermission;
  if (any && any.length > 0 && !any.some((p) => granted.includes(p))) {
    return `Missing permission: one of ${any.join(', ')}`;
  }
  return undefined;
}

/** Builds a guard for a requirement. */
export function guard(requirement: GuardRequirement = {}): KindeGuard {
  const check = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const kinde = request.kinde;
    if (kinde === null || kinde === undefined) throw new Error(NOT_REGISTERED);
    if (kinde.unavailable) {
      reply.code(503).send({ detail: 'Session store unavailable' });
      return;
    }
    if (!kinde.isAuthenticated()) {
      reply.code(401).send({ detail: 'Not authenticated' });
      return;
    }
    const reason = refusal(kinde, requirement);
    if (reason !== undefined) {
      reply.code(403).send({ detail: reason });
      return;
    }
    done();
  };
  return Object.assign(check, { [KINDE_GUARD]: requirement });
}

/**
 * Lets only authenticated callers through; others get `401 {"detail":"Not authenticated"}`.
 *
 * @example
 * ```ts
 * app.get('/', { onRequest: requireAuth() }, () => ({ Hello: 'World' }));
 * ```
 */
export function requireAuth(): KindeGuard {
  return guard({});
}

/**
 * Lets through callers granted every listed permission (`{ any: true }`: at least one);
 * others get `403 {"detail":"Missing permission: read:items"}`.
 *
 * @example
 * ```ts
 * app.delete('/items/:id', { onRequest: requirePermission('delete:items') }, handler);
 * ```
 */
export function requirePermission(
  permissions: string | readonly string[],
  options: { any?: boolean } = {},
): KindeGuard {
  const list = typeof permissions === 'string' ? [permissions] : [...permissions];
  return guard(options.any ? { anyPermission: list } : { permissions: list });
}

/** The requirement a hook carries, when it is a fastify-kinde guard. */
export function requirementOf(hook: unknown): GuardRequirement | undefined {
  return typeof hook === 'function' ? (hook as Partial<KindeGuard>)[KINDE_GUARD] : undefined;
}
