import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeJwt } from 'jose';
import {
  addOrganizationUsers,
  createUser,
  type DirectoryChange,
  onDirectoryWrite,
  permissionCatalog,
  setFeatureFlag,
  type WriteError,
} from '../src/directory-writes.js';
import { DirectoryError, defaultDirectory, startEmulator, validateDirectory } from '../src/index.js';

test('directory files may hold environment flags, permissions and management scopes', () => {
  const input = {
    ...defaultDirectory(),
    featureFlags: { beta: false },
    permissions: [{ key: 'publish:posts', name: 'Publish posts' }],
  };
  input.applications[0] = { ...input.applications[0], managementScopes: ['read:users'] } as never;
  const dir = validateDirectory(JSON.parse(JSON.stringify(input)));
  assert.deepEqual(dir.featureFlags, { beta: false });
  assert.deepEqual(dir.permissions, [
    { id: 'perm_publish:posts', key: 'publish:posts', name: 'Publish posts' },
  ]);
  assert.deepEqual(dir.applications[0]?.managementScopes, ['read:users']);
  const bad = (patch: object) => () => validateDirectory({ ...defaultDirectory(), ...patch });
  assert.throws(bad({ featureFlags: { x: 1.5 } }), DirectoryError);
  assert.throws(bad({ permissions: [{ key: 'has space' }] }), /permissions\[0\]\.key/);
  assert.throws(bad({ permissions: [{ key: 'a' }, { key: 'a' }] }), /duplicates/);
});

test('writes validate and tell listeners what changed', async () => {
  const emu = await startEmulator({});
  try {
    const ctx = emu.context;
    const seen: DirectoryChange['kind'][] = [];
    const stop = onDirectoryWrite(ctx, (c) => seen.push(c.kind));
    onDirectoryWrite(ctx, () => {
      throw new Error('a broken listener');
    });
    const user = createUser(ctx, { email: 'w@example.test', givenName: 'W' });
    assert.throws(
      () => createUser(ctx, { email: 'W@example.test' }),
      (e: WriteError) => e.status === 400,
    );
    assert.throws(() => createUser(ctx, { email: 'nope' }), /email/);
    assert.deepEqual(
      addOrganizationUsers(ctx, 'org_0000000001', [{ id: user.id, roles: [], permissions: ['x:y'] }]),
      [user.id],
    );
    assert.throws(
      () => addOrganizationUsers(ctx, 'org_0000000001', [{ id: user.id, roles: ['nope'], permissions: [] }]),
      /ROLE|role/,
    );
    assert.ok(permissionCatalog(ctx).some((p) => p.id === 'perm_x:y'));
    setFeatureFlag(ctx, 'organization', 'dark_mode', 'true', 'org_0000000001');
    assert.throws(() => setFeatureFlag(ctx, 'environment', 'max_items', '1.5'), /integer/);
    stop();
    setFeatureFlag(ctx, 'environment', 'theme', 'blue');
    assert.deepEqual(seen, ['user.created', 'membership.added', 'feature_flag.set']);
    const issued = await emu.control.issueTokens({ user: user.id, orgCode: 'org_0000000001' });
    const claims = decodeJwt(issued.access_token);
    assert.deepEqual(claims.permissions, ['x:y']);
    assert.deepEqual(claims.feature_flags, { dark_mode: { t: 'b', v: true }, theme: { t: 's', v: 'blue' } });
  } finally {
    await emu.close();
  }
});
