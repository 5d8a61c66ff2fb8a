import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as managementApi from '@kinde/management-api-js';
import {
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  defaultDirectory,
  type Emulator,
  startEmulator,
} from '../src/index.js';
import { DIRECTORY_EVENT_TYPES } from '../src/webhooks/events.js';
import { overTrustedHttps } from './trusted-https.js';
import { decodedSince, Receiver } from './webhook-receiver.js';

// Management API calls through Kinde's client, webhook deliveries decoded by Kinde's decoder. The
// client only talks https: as in management-api.test.ts, the runner makes a certificate and runs
// this file again in a child whose NODE_EXTRA_CA_CERTS trusts it.

// The package's .d.ts files do not resolve under NodeNext (see management-api.test.ts).
// biome-ignore lint/suspicious/noExplicitAny: see above
type Loose = any;
const sdk = managementApi as unknown as Record<string, Loose>;
const { Users, Organizations, Permissions, FeatureFlags, Environments } = sdk;
const EDITOR = '018ee9aa-0000-7000-8000-0000000000e1';

overTrustedHttps(
  'Management API writes send webhooks (@kinde/management-api-js → @kinde/webhooks)',
  import.meta.url,
  webhookSuite,
);

interface Decoded {
  type: string;
  source: string;
  event_id: string;
  data: Record<string, Loose>;
}

function webhookSuite(dir: string): void {
  let emu: Emulator;
  let hooks: Receiver;
  before(async () => {
    hooks = await new Receiver().start();
    const directory = defaultDirectory();
    directory.organizations.push({ code: 'org_acme', name: 'Acme Ltd' });
    directory.roles.push({ id: EDITOR, key: 'editor', name: 'Editor' });
    directory.webhooks = [{ endpoint: `${hooks.url}/kinde`, events: [...DIRECTORY_EVENT_TYPES] }];
    const https = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    emu = await startEmulator({ directory, https, webhooks: { retryDelaysMs: [], timeoutMs: 5000 } });
    sdk.init({
      kindeDomain: emu.issuerUrl,
      clientId: DEFAULT_CLIENT_ID,
      clientSecret: DEFAULT_CLIENT_SECRET,
    });
  });
  after(async () => {
    await emu.close();
    await hooks.close();
  });

  /** Makes a Management API call; returns its result and the events it delivered, in emitted order. */
  async function call(request: () => Promise<Loose>): Promise<{ result: Loose; events: Decoded[] }> {
    const start = hooks.received.length;
    const result = await request();
    // decodeWebhook fetches the emulator's JWKS over https and verifies each signature.
    const events = await decodedSince<Decoded>(hooks, emu, start);
    for (const e of events) assert.equal(e.source, 'api', e.type);
    return { result, events };
  }

  const types = (events: Decoded[]) => events.map((e) => e.type);

  test('users: createUser → user.created, updateUser → user.updated, deleteUser → user.deleted', async () => {
    const made = await call(() =>
      Users.createUser({
        requestBody: {
          profile: { given_name: 'Hal', family_name: 'Hook' },
          organization_code: 'org_acme',
          identities: [{ type: 'email', details: { email: 'hal@example.test' } }],
        },
      }),
    );
    const id = String(made.result.id);
    assert.deepEqual(types(made.events), ['user.created']);
    assert.deepEqual(made.events[0]?.data.user, {
      email: 'hal@example.test',
      first_name: 'Hal',
      id,
      is_password_reset_requested: false,
      is_suspended: false,
      last_name: 'Hook',
      organizations: [{ code: 'org_acme', permissions: null, roles: null }],
      phone: null,
      username: null,
    });
    const updated = await call(() => Users.updateUser({ id, requestBody: { given_name: 'Hank' } }));
    assert.deepEqual(types(updated.events), ['user.updated']);
    assert.equal(updated.events[0]?.data.user.first_name, 'Hank');
    assert.equal(updated.events[0]?.data.user.id, id);
    const deleted = await call(() => Users.deleteUser({ id }));
    assert.equal(deleted.result.code, 'USER_DELETED');
    assert.deepEqual(
      deleted.events.map((e) => [e.type, e.data]),
      [['user.deleted', { user: { id } }]],
    );
  });

  test('organizations and members: each change of a user is one user.updated showing their organizations', async () => {
    const org = await call(() => Organizations.createOrganization({ requestBody: { name: 'Hooks Inc' } }));
    const code = String(org.result.organization?.code);
    assert.deepEqual(types(org.events), ['organization.created']);
    assert.deepEqual(org.events[0]?.data.organization, {
      code,
      external_id: null,
      handle: 'hooks_inc',
      is_allow_registrations: true,
      name: 'Hooks Inc',
    });
    const made = await call(() =>
      Users.createUser({
        requestBody: { identities: [{ type: 'email', details: { email: 'mo@example.test' } }] },
      }),
    );
    const id = String(made.result.id);
    const orgsOf = (e: Decoded | undefined) => e?.data.user.organizations;

    const joined = await call(() =>
      Organizations.addOrganizationUsers({
        orgCode: code,
        requestBody: { users: [{ id, roles: ['admin'] }] },
      }),
    );
    assert.deepEqual(types(joined.events), ['user.updated']);
    assert.deepEqual(orgsOf(joined.events[0]), [{ code, permissions: null, roles: ['admin'] }]);

    const role = await call(() =>
      Organizations.createOrganizationUserRole({
        orgCode: code,
        userId: id,
        requestBody: { role_id: EDITOR },
      }),
    );
    assert.deepEqual(types(role.events), ['user.updated']);
    assert.deepEqual(orgsOf(role.events[0]), [{ code, permissions: null, roles: ['admin', 'editor'] }]);

    const perm = await call(() =>
      Permissions.createPermission({
        requestBody: { key: 'ship:hooks', name: 'Ship hooks', description: 'May ship hooks' },
      }),
    );
    assert.deepEqual(
      perm.events.map((e) => [e.type, e.data]),
      [
        [
          'permission.created',
          {
            permission: {
              description: 'May ship hooks',
              id: 'perm_ship:hooks',
              key: 'ship:hooks',
              name: 'Ship hooks',
            },
          },
        ],
      ],
    );
    const granted = await call(() =>
      Organizations.createOrganizationUserPermission({
        orgCode: code,
        userId: id,
        requestBody: { permission_id: 'perm_ship:hooks' },
      }),
    );
    assert.deepEqual(types(granted.events), ['user.updated']);
    assert.deepEqual(orgsOf(granted.events[0])?.[0]?.permissions, [
      { id: 'perm_ship:hooks', key: 'ship:hooks' },
    ]);

    // PATCH on an existing member with two new permissions: one event.
    const patched = await call(() =>
      Organizations.updateOrganizationUsers({
        orgCode: code,
        requestBody: { users: [{ id, permissions: ['read:hooks', 'write:hooks'] }] },
      }),
    );
    assert.deepEqual(patched.result.users_updated, [id]);
    assert.deepEqual(types(patched.events), ['user.updated']);
    assert.deepEqual(
      orgsOf(patched.events[0])?.[0]?.permissions.map((p: Loose) => p.key),
      ['ship:hooks', 'read:hooks', 'write:hooks'],
    );

    const unrole = await call(() =>
      Organizations.deleteOrganizationUserRole({ orgCode: code, userId: id, roleId: EDITOR }),
    );
    assert.deepEqual(orgsOf(unrole.events[0])?.[0]?.roles, ['admin']);
    const unperm = await call(() =>
      Organizations.deleteOrganizationUserPermission({
        orgCode: code,
        userId: id,
        permissionId: 'perm_ship:hooks',
      }),
    );
    assert.deepEqual(
      orgsOf(unperm.events[0])?.[0]?.permissions.map((p: Loose) => p.key),
      ['read:hooks', 'write:hooks'],
    );
    const left = await call(() => Organizations.removeOrganizationUser({ orgCode: code, userId: id }));
    assert.deepEqual(types(left.events), ['user.updated']);
    assert.deepEqual(orgsOf(left.events[0]), []);
  });

  test('feature flag writes send no event (Kinde has no feature flag webhooks)', async () => {
    const quiet = [
      () =>
        FeatureFlags.createFeatureFlag({
          requestBody: { name: 'Hooked', key: 'hooked', type: 'bool', default_value: 'false' },
        }),
      () =>
        Organizations.updateOrganizationFeatureFlagOverride({
          orgCode: 'org_acme',
          featureFlagKey: 'hooked',
          value: 'true',
        }),
      () =>
        Environments.updateEnvironementFeatureFlagOverride({
          featureFlagKey: 'theme',
          requestBody: { value: 'teal' },
        }),
      () =>
        Users.updateUserFeatureFlagOverride({
          userId: String(emu.directory.users[0]?.id),
          featureFlagKey: 'max_items',
          value: '3',
        }),
    ];
    for (const request of quiet) {
      const { events } = await call(request);
      assert.deepEqual(types(events), [], String(request));
    }
    assert.equal(emu.directory.featureFlags?.theme, 'teal', 'the writes did happen');
  });
}
