import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { defaultDirectory, type Emulator, startEmulator } from '../src/index.js';
import { CLIENT_ID, CLIENT_SECRET, token } from './helpers.js';

let emu: Emulator;
before(async () => {
  emu = await startEmulator({ port: 0 });
});
after(() => emu.close());

function patch(body: unknown, type = 'application/json') {
  return fetch(`${emu.issuerUrl}/_emulator/directory`, {
    method: 'PATCH',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

test('PATCH /_emulator/directory adds a user and merges over an existing one by email', async () => {
  emu.control.setDirectory(defaultDirectory());
  const added = await patch({
    users: [
      {
        email: 'eve@example.test',
        givenName: 'Eve',
        familyName: 'Tester',
        organizations: [{ orgCode: 'org_acme', permissions: ['x:y'], roles: ['auditor'] }],
      },
      { email: 'USER@example.test', givenName: 'Una' },
    ],
    organizations: [{ code: 'org_acme', name: 'Acme' }],
    roles: [{ id: 'r-auditor', key: 'auditor', name: 'Auditor' }],
  });
  assert.equal(added.status, 200);
  const eve = emu.directory.users.find((u) => u.email === 'eve@example.test');
  assert.match(eve?.id ?? '', /^kp_[0-9a-f]{32}$/);
  assert.deepEqual(eve?.organizations[0]?.permissions, ['x:y']);
  const uma = emu.directory.users.find((u) => u.id === 'kp_fedcba9876543210fedcba9876543210');
  assert.equal(uma?.givenName, 'Una');
  assert.equal(uma?.familyName, 'User', 'fields not sent are kept');
  assert.equal(emu.directory.users.length, 3);
});

test('a merged application keeps its secret, which the HTTP read never returns', async () => {
  emu.control.setDirectory(defaultDirectory());
  assert.equal((await patch({ applications: [{ clientId: CLIENT_ID, permissions: ['m:m'] }] })).status, 200);
  const issued = await token(emu, {
    grant_type: 'client_credentials',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
  });
  assert.equal(issued.status, 200);
  const claims = JSON.parse(
    Buffer.from(String(issued.body.access_token).split('.')[1] as string, 'base64url').toString(),
  );
  assert.deepEqual(claims.permissions, ['m:m']);
});

test('a bad patch is a 400 naming the field and changes nothing', async () => {
  emu.control.setDirectory(defaultDirectory());
  const cases: [unknown, string][] = [
    [{ users: [{ email: 'not-an-email' }] }, 'users[2].email'],
    [{ users: {} }, 'users'],
    [{ users: [7] }, 'users[0]'],
    [{ people: [] }, 'people'],
    [[], '(patch)'],
  ];
  for (const [body, field] of cases) {
    const res = await patch(body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(((await res.json()) as { field: string }).field, field);
  }
  assert.equal(emu.directory.users.length, 2);
  assert.equal((await patch('users=x', 'application/x-www-form-urlencoded')).status, 415);
});
