import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  addOrganizationUsers,
  createPermission,
  createUser,
  type DirectoryChange,
  deleteUser,
  onDirectoryWrite,
  setFeatureFlag,
} from '../src/directory-writes.js';
import { defaultDirectory, type Emulator, startEmulator } from '../src/index.js';
import type { User } from '../src/types.js';
import { changeEvents } from '../src/webhooks/directory-events.js';
import { DIRECTORY_EVENT_TYPES } from '../src/webhooks/events.js';
import { decodedSince, Receiver } from './webhook-receiver.js';

interface Decoded {
  type: string;
  event_id: string;
  source: string;
  data: { user?: Record<string, unknown>; permission?: Record<string, unknown> };
}

let emu: Emulator;
let hooks: Receiver;

before(async () => {
  hooks = await new Receiver().start();
  const directory = defaultDirectory();
  directory.organizations.push({ code: 'org_acme', name: 'Acme Ltd' });
  directory.webhooks = [{ endpoint: `${hooks.url}/all`, events: [...DIRECTORY_EVENT_TYPES] }];
  emu = await startEmulator({ directory, webhooks: { retryDelaysMs: [], timeoutMs: 2000 } });
});
after(async () => {
  await emu.close();
  await hooks.close();
});

/** Runs directory writes and returns the events delivered for them, decoded by @kinde/webhooks. */
async function delivered(writes: () => void): Promise<Decoded[]> {
  const start = hooks.received.length;
  writes();
  await new Promise((r) => setImmediate(r)); // events of a write call are emitted when it returns
  return decodedSince<Decoded>(hooks, emu, start);
}

/** A new member of org_acme, once its user.created has been delivered. */
async function created(email: string): Promise<User> {
  let user: User | undefined;
  const events = await delivered(() => {
    user = createUser(emu.context, { email, orgCode: 'org_acme' });
  });
  assert.deepEqual(
    events.map((e) => e.type),
    ['user.created'],
  );
  return user as User;
}

test('every kind of directory change maps to the event Kinde sends, or to none', () => {
  const user: User = { ...(emu.directory.users[0] as User), organizations: [] };
  const role = { id: 'r1', key: 'editor', name: 'Editor' };
  const cases: [DirectoryChange, string[]][] = [
    [{ kind: 'user.created', user }, ['user.created']],
    [{ kind: 'user.updated', user }, ['user.updated']],
    [{ kind: 'user.deleted', user }, ['user.deleted']],
    [{ kind: 'organization.created', organization: { code: 'org_x', name: 'X' } }, ['organization.created']],
    [{ kind: 'membership.added', user, orgCode: 'org_x' }, ['user.updated']],
    [{ kind: 'membership.removed', user, orgCode: 'org_x' }, ['user.updated']],
    [{ kind: 'membership.role_added', user, orgCode: 'org_x', role }, ['user.updated']],
    [{ kind: 'membership.role_removed', user, orgCode: 'org_x', role }, ['user.updated']],
    [{ kind: 'membership.permission_added', user, orgCode: 'org_x', permission: 'a' }, ['user.updated']],
    [{ kind: 'membership.permission_removed', user, orgCode: 'org_x', permission: 'a' }, ['user.updated']],
    [
      { kind: 'permission.created', permission: { id: 'perm_a', key: 'a', name: 'A' } },
      ['permission.created'],
    ],
    [{ kind: 'feature_flag.set', key: 'beta', level: 'environment', value: true }, []],
  ];
  for (const [change, types] of cases) {
    assert.deepEqual(
      changeEvents(change).map((e) => e.type),
      types,
      change.kind,
    );
  }
  assert.deepEqual(changeEvents({ kind: 'user.deleted', user })[0]?.data, { user: { id: user.id } });
});

test('a new member with roles: listeners see the roles, and one user.updated shows them', async () => {
  const seen: string[][] = [];
  const stop = onDirectoryWrite(emu.context, (c) => {
    if (c.kind === 'membership.added') seen.push([...(c.user.organizations.at(-1)?.roles ?? [])]);
  });
  try {
    const events = await delivered(() => {
      const user = createUser(emu.context, { email: 'm1@example.test' });
      addOrganizationUsers(emu.context, 'org_acme', [
        { id: user.id, roles: ['admin'], permissions: ['p:1'] },
      ]);
    });
    assert.deepEqual(seen, [['admin']]);
    assert.deepEqual(
      events.map((e) => [e.type, e.source]),
      [
        ['user.created', 'api'],
        ['user.updated', 'api'],
      ],
    );
    assert.deepEqual(events[1]?.data.user?.organizations, [
      { code: 'org_acme', permissions: [{ id: 'perm_p:1', key: 'p:1' }], roles: ['admin'] },
    ]);
  } finally {
    stop();
  }
});

test('roles and permissions added to an existing member send user.updated (once per call)', async () => {
  const user = await created('m2@example.test');
  const events = await delivered(() =>
    addOrganizationUsers(emu.context, 'org_acme', [
      { id: user.id, roles: ['admin'], permissions: ['p:2', 'p:3'] },
    ]),
  );
  assert.deepEqual(
    events.map((e) => e.type),
    ['user.updated'],
  );
  assert.deepEqual(events[0]?.data.user?.organizations, [
    {
      code: 'org_acme',
      permissions: [
        { id: 'perm_p:2', key: 'p:2' },
        { id: 'perm_p:3', key: 'p:3' },
      ],
      roles: ['admin'],
    },
  ]);
  // Nothing new: no event.
  assert.deepEqual(
    await delivered(() =>
      addOrganizationUsers(emu.context, 'org_acme', [{ id: user.id, roles: ['admin'], permissions: [] }]),
    ),
    [],
  );
});

test('feature flag changes send nothing (Kinde has no flag events); user.deleted carries the id', async () => {
  const user = await created('m3@example.test');
  const events = await delivered(() => {
    setFeatureFlag(emu.context, 'environment', 'theme', 'red');
    setFeatureFlag(emu.context, 'user', 'dark_mode', 'true', user.id);
    createPermission(emu.context, { key: 'p:made', name: 'Made', description: 'A made permission' });
    deleteUser(emu.context, user.id);
  });
  assert.deepEqual(
    events.map((e) => [e.type, e.data]),
    [
      [
        'permission.created',
        { permission: { description: 'A made permission', id: 'perm_p:made', key: 'p:made', name: 'Made' } },
      ],
      ['user.deleted', { user: { id: user.id } }],
    ],
  );
});
