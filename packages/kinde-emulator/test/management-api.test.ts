import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as managementApi from '@kinde/management-api-js';
import { decodeJwt } from 'jose';
import {
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  defaultDirectory,
  type Emulator,
  startEmulator,
} from '../src/index.js';
import { baseAuthParams, CLIENT_ID, CLIENT_SECRET, exchangeCode, login, token } from './helpers.js';
import { overTrustedHttps } from './trusted-https.js';

// @kinde/management-api-js prefixes any domain without "https://" with it, so it only talks https.
// Node's fetch trusts a local certificate only through NODE_EXTRA_CA_CERTS, read at start-up: the
// runner's process makes a certificate and runs this file again in a child that trusts it.

// The package's .d.ts files import without extensions, so under NodeNext resolution they type as
// nothing useful: the calls are typed loosely here (the runtime is the package itself).
// biome-ignore lint/suspicious/noExplicitAny: see above
type Loose = any;
type Resource = Loose;
const sdk = managementApi as unknown as Record<string, Resource> & {
  ApiError: new (...args: unknown[]) => Error & { status: number; body: unknown };
  init(config: { kindeDomain: string; clientId: string; clientSecret: string }): void;
  setToken(token: string): void;
  validateToken(token: string): Promise<boolean>;
};
const { ApiError, init, setToken, validateToken } = sdk;
type ApiError = InstanceType<typeof ApiError>;
const Users = sdk.Users as Resource;
const Organizations = sdk.Organizations as Resource;
const Roles = sdk.Roles as Resource;
const Permissions = sdk.Permissions as Resource;
const Applications = sdk.Applications as Resource;
const Environments = sdk.Environments as Resource;
const FeatureFlags = sdk.FeatureFlags as Resource;
const READER_ID = 'm2m_reader';
const READER_SECRET = 'ReaderSecret000000000000000000000000000001';

overTrustedHttps(
  'Management API through @kinde/management-api-js over https',
  import.meta.url,
  managementSuite,
);

function managementSuite(dir: string): void {
  let emu: Emulator;
  before(async () => {
    const directory = defaultDirectory();
    directory.organizations.push({ code: 'org_acme', name: 'Acme Ltd' });
    directory.roles.push({ id: '018ee9aa-0000-7000-8000-000000000002', key: 'editor', name: 'Editor' });
    directory.applications.push({
      name: 'Reader',
      clientId: READER_ID,
      clientSecret: READER_SECRET,
      grants: ['client_credentials'],
      redirectUris: [],
      logoutUris: [],
      managementScopes: ['read:users'],
    });
    const key = readFileSync(join(dir, 'key.pem'));
    const cert = readFileSync(join(dir, 'cert.pem'));
    emu = await startEmulator({ directory, https: { key, cert } });
    useClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
  });
  after(() => emu.close());

  function useClient(clientId: string, clientSecret: string): void {
    init({ kindeDomain: emu.issuerUrl, clientId, clientSecret });
    setToken(''); // the client caches one token per process; drop the previous client's
  }

  async function signIn(email: string, orgCode?: string) {
    const r = await login(emu, email, baseAuthParams(orgCode ? { org_code: orgCode } : {}));
    const res = await exchangeCode(emu, r.code);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return {
      access: String(res.body.access_token),
      claims: decodeJwt(String(res.body.access_token)),
      id: decodeJwt(String(res.body.id_token)),
    };
  }

  async function apiError(call: Promise<unknown>): Promise<ApiError> {
    try {
      await call;
    } catch (err) {
      if (err instanceof ApiError) return err;
      throw err;
    }
    throw new Error('the call succeeded');
  }

  test('reads: users, user, organizations, members, roles, permissions, flags, applications', async () => {
    const users = await Users.getUsers({ expand: 'organizations' });
    assert.equal(users.code, 'OK');
    const ada = users.users?.find((u: Loose) => u.email === 'admin@example.test');
    assert.equal(ada?.first_name, 'Ada');
    assert.deepEqual(ada?.organizations, ['org_0000000001']);
    const page1 = await Users.getUsers({ pageSize: 1 });
    assert.equal(page1.users?.length, 1);
    const page2 = await Users.getUsers({ pageSize: 1, nextToken: page1.next_token ?? '' });
    assert.notEqual(page2.users?.[0]?.id, page1.users?.[0]?.id);
    const one = await Users.getUserData({ id: String(ada?.id) });
    assert.equal(one.preferred_email, 'admin@example.test');
    const orgs = await Organizations.getOrganizations();
    assert.deepEqual(
      orgs.organizations?.map((o: Loose) => o.code),
      ['org_0000000001', 'org_acme'],
    );
    const org = await Organizations.getOrganization({ code: 'org_acme' });
    assert.equal(org.name, 'Acme Ltd');
    const members = await Organizations.getOrganizationUsers({ orgCode: 'org_0000000001', roles: 'admin' });
    assert.deepEqual(
      members.organization_users?.map((m: Loose) => [m.email, m.roles]),
      [['admin@example.test', ['admin']]],
    );
    const roles = await Roles.getRoles({ sort: 'key_desc' });
    assert.deepEqual(
      roles.roles?.map((r: Loose) => r.key),
      ['editor', 'admin'],
    );
    const perms = await Permissions.getPermissions();
    assert.ok(perms.permissions?.some((p: Loose) => p.key === 'read:items' && p.id === 'perm_read:items'));
    const flags = await Environments.getEnvironementFeatureFlags();
    assert.deepEqual(flags.feature_flags?.dark_mode, { type: 'bool' });
    const apps = await Applications.getApplications();
    assert.deepEqual(
      apps.applications?.map((a: Loose) => [a.id, a.type]),
      [
        [DEFAULT_CLIENT_ID, 'reg'],
        [READER_ID, 'm2m'],
      ],
    );
    const app = await Applications.getApplication({ applicationId: READER_ID });
    assert.equal(app.application?.client_id, READER_ID);
  });

  test('writes show on the next login and in the Account API', async () => {
    const created = await Users.createUser({
      requestBody: {
        profile: { given_name: 'Nia', family_name: 'New' },
        organization_code: 'org_acme',
        identities: [{ type: 'email', details: { email: 'nia@example.test' } }],
      },
    });
    assert.equal(created.created, true);
    const id = String(created.id);
    assert.match(id, /^kp_[0-9a-f]{32}$/);
    const first = await signIn('nia@example.test');
    assert.equal(first.claims.org_code, 'org_acme');
    assert.deepEqual(first.claims.roles, []);

    await Organizations.createOrganizationUserRole({
      orgCode: 'org_acme',
      userId: id,
      requestBody: { role_id: '018ee9aa-0000-7000-8000-000000000002' },
    });
    await Permissions.createPermission({ requestBody: { key: 'publish:posts', name: 'Publish posts' } });
    await Organizations.createOrganizationUserPermission({
      orgCode: 'org_acme',
      userId: id,
      requestBody: { permission_id: 'perm_publish:posts' },
    });
    await FeatureFlags.createFeatureFlag({
      requestBody: { name: 'Beta', key: 'beta', type: 'bool', default_value: 'false' },
    });
    await Organizations.updateOrganizationFeatureFlagOverride({
      orgCode: 'org_acme',
      featureFlagKey: 'beta',
      value: 'true',
    });
    await Environments.updateEnvironementFeatureFlagOverride({
      featureFlagKey: 'theme',
      requestBody: { value: 'green' },
    });
    await Users.updateUserFeatureFlagOverride({ userId: id, featureFlagKey: 'max_items', value: '9' });
    await Users.updateUser({ id, requestBody: { given_name: 'Nina' } });

    // The Account API answers from the directory: the earlier token already sees the permission.
    const account = await fetch(`${emu.issuerUrl}/account_api/v1/permissions`, {
      headers: { authorization: `Bearer ${first.access}` },
    });
    const body = (await account.json()) as { data: { permissions: { key: string }[] } };
    assert.deepEqual(
      body.data.permissions.map((p: Loose) => p.key),
      ['publish:posts'],
    );

    const next = await signIn('nia@example.test');
    assert.deepEqual(
      (next.claims.roles as { key: string }[]).map((r: Loose) => r.key),
      ['editor'],
    );
    assert.deepEqual(next.claims.permissions, ['publish:posts']);
    assert.deepEqual(next.claims.feature_flags, {
      beta: { t: 'b', v: true },
      max_items: { t: 'i', v: 9 },
      theme: { t: 's', v: 'green' },
    });
    assert.equal(next.id.given_name, 'Nina');
    const roles = await Organizations.getOrganizationUserRoles({ orgCode: 'org_acme', userId: id });
    assert.deepEqual(
      roles.roles?.map((r: Loose) => r.key),
      ['editor'],
    );
    const perms = await Organizations.getOrganizationUserPermissions({ orgCode: 'org_acme', userId: id });
    assert.deepEqual(
      perms.permissions?.map((p: Loose) => p.key),
      ['publish:posts'],
    );
    const orgFlags = await Organizations.getOrganizationFeatureFlags({ orgCode: 'org_acme' });
    assert.deepEqual(orgFlags.feature_flags?.beta, { type: 'bool', value: 'true' });

    await Organizations.deleteOrganizationUserRole({
      orgCode: 'org_acme',
      userId: id,
      roleId: '018ee9aa-0000-7000-8000-000000000002',
    });
    await Organizations.deleteOrganizationUserPermission({
      orgCode: 'org_acme',
      userId: id,
      permissionId: 'perm_publish:posts',
    });
    const after = await signIn('nia@example.test');
    assert.deepEqual(after.claims.roles, []);
    assert.deepEqual(after.claims.permissions, []);
  });

  test('organizations: create, add and remove members, delete a user', async () => {
    const made = await Organizations.createOrganization({ requestBody: { name: 'Globex' } });
    const code = String(made.organization?.code);
    assert.match(code, /^org_[0-9a-f]{11}$/);
    const uma = (await Users.getUsers({ email: 'user@example.test' })).users?.[0];
    const added = await Organizations.addOrganizationUsers({
      orgCode: code,
      requestBody: { users: [{ id: String(uma?.id), roles: ['admin'], permissions: ['read:globex'] }] },
    });
    assert.deepEqual(added.users_added, [uma?.id]);
    const inGlobex = await signIn('user@example.test', code);
    assert.equal(inGlobex.claims.org_code, code);
    assert.deepEqual(inGlobex.claims.permissions, ['read:globex']);
    const refreshed = await Users.refreshUserClaims({ userId: String(uma?.id) });
    assert.equal(refreshed.code, 'OK');
    // PATCH: update Uma (already a member) and add Ada, then remove Ada with operation "delete".
    const ada = (await Users.getUsers({ email: 'admin@example.test' })).users?.[0];
    const patched = await Organizations.updateOrganizationUsers({
      orgCode: code,
      requestBody: {
        users: [{ id: String(uma?.id), permissions: ['write:globex'] }, { id: String(ada?.id) }],
      },
    });
    assert.deepEqual(patched.users_added, [ada?.id]);
    assert.deepEqual(patched.users_updated, [uma?.id]);
    const removed = await Organizations.updateOrganizationUsers({
      orgCode: code,
      requestBody: { users: [{ id: String(ada?.id), operation: 'delete' }] },
    });
    assert.deepEqual(removed.users_removed, [ada?.id]);
    const perms = await Organizations.getOrganizationUserPermissions({
      orgCode: code,
      userId: String(uma?.id),
    });
    assert.deepEqual(
      perms.permissions?.map((p: Loose) => p.key),
      ['read:globex', 'write:globex'],
    );
    await Organizations.removeOrganizationUser({ orgCode: code, userId: String(uma?.id) });
    const empty = await Organizations.getOrganizationUsers({ orgCode: code });
    assert.deepEqual(empty.organization_users, []);

    const temp = await Users.createUser({
      requestBody: { identities: [{ type: 'email', details: { email: 'temp@example.test' } }] },
    });
    const deleted = await Users.deleteUser({ id: String(temp.id) });
    assert.equal(deleted.code, 'USER_DELETED');
    const gone = await apiError(Users.getUserData({ id: String(temp.id) }));
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.body, { errors: [{ code: 'USER_NOT_FOUND', message: 'No user has this id' }] });
  });

  test('bad input is a 4xx in Kinde error shape', async () => {
    const cases: [() => Promise<unknown>, number, string][] = [
      [() => Users.createUser({ requestBody: { profile: { given_name: 'X' } } }), 400, 'INVALID_REQUEST'],
      [
        () =>
          Users.createUser({
            requestBody: { identities: [{ type: 'email', details: { email: 'admin@example.test' } }] },
          }),
        400,
        'USER_ALREADY_EXISTS',
      ],
      [() => Users.getUsers({ pageSize: 0 }), 400, 'INVALID_REQUEST'],
      [() => Users.getUsers({ nextToken: 'garbage!' }), 400, 'INVALID_REQUEST'],
      [() => Organizations.getOrganization({ code: 'org_nope' }), 404, 'ORGANIZATION_NOT_FOUND'],
      [
        () =>
          Organizations.createOrganizationUserRole({
            orgCode: 'org_acme',
            userId: 'kp_fedcba9876543210fedcba9876543210',
            requestBody: { role_id: 'x' },
          }),
        404,
        'USER_NOT_IN_ORGANIZATION',
      ],
      [
        () =>
          Organizations.updateOrganizationFeatureFlagOverride({
            orgCode: 'org_0000000001',
            featureFlagKey: 'dark_mode',
            value: 'maybe',
          }),
        400,
        'FLAG_VALUE_INVALID',
      ],
      [
        () =>
          Environments.updateEnvironementFeatureFlagOverride({
            featureFlagKey: 'no_such_flag',
            requestBody: { value: 'x' },
          }),
        404,
        'FLAG_NOT_FOUND',
      ],
      [
        () => Organizations.addOrganizationUsers({ orgCode: 'org_acme', requestBody: { users: [] } }),
        400,
        'INVALID_REQUEST',
      ],
    ];
    for (const [call, status, code] of cases) {
      const err = await apiError(call());
      assert.equal(err.status, status, `${call}: ${JSON.stringify(err.body)}`);
      const body = err.body as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0]?.code, code, JSON.stringify(err.body));
      assert.ok(body.errors[0]?.message);
    }
    const raw = await fetch(`${emu.issuerUrl}/api/v1/user`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await m2mToken()}`, 'content-type': 'application/json' },
      body: '{not json',
    });
    assert.equal(raw.status, 400);
    assert.equal(((await raw.json()) as { errors: { code: string }[] }).errors[0]?.code, 'INVALID_REQUEST');
    const unknown = await fetch(`${emu.issuerUrl}/api/v1/nothing_here`, {
      headers: { authorization: `Bearer ${await m2mToken()}` },
    });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { errors: { code: string } }).errors.code, 'ROUTE_NOT_FOUND');
  });

  async function m2mToken(clientId = CLIENT_ID, secret = CLIENT_SECRET, audience = `${emu.issuerUrl}/api`) {
    const res = await token(emu, {
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: secret,
      audience,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return String(res.body.access_token);
  }

  test('no token → 401; wrong scope, audience or token type → 403', async () => {
    const none = await fetch(`${emu.issuerUrl}/api/v1/users`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { errors: { code: string }[] }).errors[0]?.code, 'UNAUTHORIZED');
    const forged = await fetch(`${emu.issuerUrl}/api/v1/users`, {
      headers: { authorization: 'Bearer abc.def.ghi' },
    });
    assert.equal(forged.status, 401);
    const otherAud = await fetch(`${emu.issuerUrl}/api/v1/users`, {
      headers: { authorization: `Bearer ${await m2mToken(CLIENT_ID, CLIENT_SECRET, 'api://other')}` },
    });
    assert.equal(otherAud.status, 403);
    const user = await signIn('admin@example.test');
    const userToken = await fetch(`${emu.issuerUrl}/api/v1/users`, {
      headers: { authorization: `Bearer ${user.access}` },
    });
    assert.equal(userToken.status, 403);

    useClient(READER_ID, READER_SECRET);
    try {
      const list = await Users.getUsers();
      assert.ok((list.users?.length ?? 0) >= 2);
      const denied = await apiError(
        Users.createUser({
          requestBody: { identities: [{ type: 'email', details: { email: 'no@example.test' } }] },
        }),
      );
      assert.equal(denied.status, 403);
      const body = denied.body as { errors: { code: string; message: string }[] };
      assert.equal(body.errors[0]?.code, 'FORBIDDEN');
      assert.match(body.errors[0]?.message ?? '', /create:users/);
      const claims = decodeJwt(await m2mToken(READER_ID, READER_SECRET));
      assert.deepEqual(claims.scp, ['read:users']);
      // The reader may not ask for more than it is granted.
      const more = await token(emu, {
        grant_type: 'client_credentials',
        client_id: READER_ID,
        client_secret: READER_SECRET,
        audience: `${emu.issuerUrl}/api`,
        scope: 'read:users create:users',
      });
      assert.equal(more.status, 400);
      assert.equal(more.body.error, 'invalid_scope');
      // The client's own validator (aws-jwt-verify over https) accepts the emulator's token.
      assert.equal(await validateToken(await m2mToken(READER_ID, READER_SECRET)), true);
    } finally {
      useClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
    }
  });
}
