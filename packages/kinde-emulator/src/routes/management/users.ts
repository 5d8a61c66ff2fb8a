import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EmulatorContext } from '../../context.js';
import {
  createUser,
  deleteUser,
  setFeatureFlag,
  type UserPatch,
  updateUser,
} from '../../directory-writes.js';
import type { User } from '../../types.js';
import { route } from './auth.js';
import { ApiError, bool, csv, expand, iso, jsonBody, ok, paginate, query, str } from './common.js';

const EXPANDS = ['organizations', 'identities', 'billing'];

function identities(u: User) {
  return [{ type: 'email', identity: u.email }];
}

/** The `users_response` item. */
function listItem(u: User, more: Set<string>) {
  return {
    id: u.id,
    provided_id: u.providedId ?? null,
    email: u.email,
    username: u.username ?? null,
    last_name: u.familyName,
    first_name: u.givenName,
    is_suspended: false,
    picture: u.picture ?? null,
    total_sign_ins: null,
    failed_sign_ins: null,
    last_signed_in: null,
    created_on: iso(u.updatedAt),
    ...(more.has('organizations') ? { organizations: u.organizations.map((m) => m.orgCode) } : {}),
    ...(more.has('identities') ? { identities: identities(u) } : {}),
  };
}

/** The `user` schema (`preferred_email`, not `email`). */
function userItem(u: User, more: Set<string>) {
  const { email, ...rest } = listItem(u, more);
  return { ...rest, preferred_email: email };
}

function filterUsers(users: User[], q: Record<string, unknown>): User[] {
  const ids = csv(q, 'user_id');
  const emails = csv(q, 'email').map((e) => e.toLowerCase());
  const usernames = csv(q, 'username');
  const hasOrg = bool(q, 'has_organization');
  for (const unsupported of ['phone', 'active_since']) {
    if (str(q, unsupported) !== undefined) {
      throw new ApiError(400, 'INVALID_REQUEST', `The emulator does not filter users by ${unsupported}`);
    }
  }
  return users.filter(
    (u) =>
      (ids.length === 0 || ids.includes(u.id)) &&
      (emails.length === 0 || emails.includes(u.email.toLowerCase())) &&
      (usernames.length === 0 || (u.username != null && usernames.includes(u.username))) &&
      (hasOrg === undefined || hasOrg === u.organizations.length > 0),
  );
}

function idParam(request: FastifyRequest): string {
  return str(query(request), 'id', true);
}

/** The body of `POST /user`: one email identity is required (emulator users sign in by email). */
function newUser(body: Record<string, unknown>) {
  const profile = body.profile === undefined ? {} : body.profile;
  if (!profile || typeof profile !== 'object' || Array.isArray(profile)) {
    throw new ApiError(400, 'INVALID_REQUEST', '"profile" must be an object');
  }
  const list = body.identities === undefined ? [] : body.identities;
  if (!Array.isArray(list)) throw new ApiError(400, 'INVALID_REQUEST', '"identities" must be an array');
  const emailIdentity = list.find(
    (i) => i && typeof i === 'object' && (i as { type?: unknown }).type === 'email',
  );
  const details = (emailIdentity as { details?: Record<string, unknown> } | undefined)?.details;
  const email = details && typeof details === 'object' ? str(details, 'email') : undefined;
  if (!email) {
    throw new ApiError(400, 'INVALID_REQUEST', 'identities must include {type: "email", details: {email}}');
  }
  const p = profile as Record<string, unknown>;
  const username = list.find(
    (i) => i && typeof i === 'object' && (i as { type?: unknown }).type === 'username',
  );
  const uname = (username as { details?: Record<string, unknown> } | undefined)?.details;
  return {
    email,
    givenName: str(p, 'given_name'),
    familyName: str(p, 'family_name'),
    picture: str(p, 'picture'),
    providedId: str(body, 'provided_id'),
    orgCode: str(body, 'organization_code'),
    username: uname && typeof uname === 'object' ? str(uname, 'username') : undefined,
  };
}

function userPatch(body: Record<string, unknown>): UserPatch {
  if (bool(body, 'is_suspended') === true || bool(body, 'is_password_reset_requested') === true) {
    throw new ApiError(400, 'NOT_SUPPORTED', 'The emulator has no suspension or password resets');
  }
  const patch: UserPatch = {};
  const given = str(body, 'given_name');
  const family = str(body, 'family_name');
  const picture = str(body, 'picture');
  const provided = str(body, 'provided_id');
  if (given !== undefined) patch.givenName = given;
  if (family !== undefined) patch.familyName = family;
  if (picture !== undefined) patch.picture = picture;
  if (provided !== undefined) patch.providedId = provided;
  return patch;
}

/** Users: list, get, create, update, delete, and per-user feature flag overrides. */
export function userRoutes(app: FastifyInstance, ctx: EmulatorContext): void {
  route(app, ctx, 'GET', '/users', 'read:users', (request) => {
    const q = query(request);
    const more = expand(q, EXPANDS);
    const page = paginate(q, filterUsers(ctx.directory.users, q));
    return ok({ users: page.items.map((u) => listItem(u, more)), next_token: page.next_token });
  });
  route(app, ctx, 'GET', '/user', 'read:users', (request) => {
    const q = query(request);
    const more = expand(q, EXPANDS);
    const user = ctx.directory.users.find((u) => u.id === idParam(request));
    if (!user) throw new ApiError(404, 'USER_NOT_FOUND', 'No user has this id');
    return userItem(user, more);
  });
  route(app, ctx, 'POST', '/user', 'create:users', (request) => {
    const user = createUser(ctx, newUser(jsonBody(request)));
    return { id: user.id, created: true, identities: [{ type: 'email', result: { created: true } }] };
  });
  route(app, ctx, 'PATCH', '/user', 'update:users', (request) => {
    const user = updateUser(ctx, idParam(request), userPatch(jsonBody(request)));
    return {
      id: user.id,
      given_name: user.givenName,
      family_name: user.familyName,
      email: user.email,
      is_suspended: false,
      is_password_reset_requested: false,
      picture: user.picture ?? null,
    };
  });
  route(app, ctx, 'DELETE', '/user', 'delete:users', (request) => {
    deleteUser(ctx, idParam(request));
    return ok({}, 'User successfully deleted', 'USER_DELETED');
  });
  // Tokens are signed from the directory every time, so claims are always fresh: only check the user.
  route(app, ctx, 'POST', '/users/:user_id/refresh_claims', 'update:user_refresh_claims', (request) => {
    const id = (request.params as { user_id: string }).user_id;
    if (!ctx.directory.users.some((u) => u.id === id))
      throw new ApiError(404, 'USER_NOT_FOUND', 'No user has this id');
    return ok({}, 'Claims successfully refreshed');
  });
  route(app, ctx, 'PATCH', '/users/:user_id/feature_flags/:key', 'update:user_feature_flags', (request) => {
    const { user_id, key } = request.params as { user_id: string; key: string };
    setFeatureFlag(ctx, 'user', key, str(query(request), 'value', true), user_id);
    return ok({}, 'Feature flag override successfully updated');
  });
}
