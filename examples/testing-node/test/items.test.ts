// Testing routes guarded by fastify-kinde with node:test and fastify-kinde/testing: real sign-ins
// and real tokens from an emulator in this process, no browser, no mocks.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startKindeTest } from 'fastify-kinde/testing';
import { buildApp } from '../src/app.js';

// Top level: node:test's `after` then stops the emulator when this file's tests end.
const kit = await startKindeTest({ after });
const app = await buildApp(kit.options());
after(() => app.close());

test('without a session, the guarded routes answer 401', async () => {
  const response = await app.inject({ method: 'DELETE', url: '/items/1' });
  assert.equal(response.statusCode, 401);
  assert.deepEqual(response.json(), { detail: 'Not authenticated' });
});

test('a signed-in user without delete:items gets 403', async () => {
  const cookie = await kit.signIn(app, { email: 'user@example.test' });
  assert.equal((await app.inject({ url: '/items/1', headers: { cookie } })).statusCode, 200);
  const response = await app.inject({ method: 'DELETE', url: '/items/1', headers: { cookie } });
  assert.equal(response.statusCode, 403);
  assert.deepEqual(response.json(), { detail: 'Missing permission: delete:items' });
});

test('a user granted delete:items deletes the item', async () => {
  const cookie = await kit.signIn(app, { permissions: ['delete:items'] });
  const response = await app.inject({ method: 'DELETE', url: '/items/1', headers: { cookie } });
  assert.equal(response.statusCode, 204);
  assert.equal((await app.inject({ url: '/items/1', headers: { cookie } })).statusCode, 404);
});

test('bearer tokens: a user and a machine', async () => {
  const user = await kit.bearerFor({ email: 'admin@example.test' });
  const asUser = await app.inject({ url: '/whoami', headers: { authorization: `Bearer ${user}` } });
  // Kinde's access tokens carry no email: a bearer caller is known by its id (`sub`).
  assert.deepEqual(asUser.json(), { kind: 'user', email: null });
  const machine = await kit.machineToken({ permissions: ['delete:items'] });
  const asMachine = await app.inject({
    method: 'DELETE',
    url: '/items/2',
    headers: { authorization: `Bearer ${machine}` },
  });
  assert.equal(asMachine.statusCode, 404, 'the guard let the machine through to the handler');
});

test('an expired access token is refreshed; while Kinde is down the app answers 503', async () => {
  const cookie = await kit.signIn(app, { email: 'admin@example.test' });
  await kit.expireAccessToken(app, cookie);
  await kit.fail('token', { mode: 'down' });
  assert.equal((await app.inject({ url: '/whoami', headers: { cookie } })).statusCode, 503);
  await kit.clearFailures();
  const other = await kit.signIn(app, { email: 'admin@example.test' });
  await kit.expireAccessToken(app, other);
  await kit.clearRequests();
  assert.equal((await app.inject({ url: '/whoami', headers: { cookie: other } })).statusCode, 200);
  const grants = (await kit.requests()).map((r) => r.grantType).filter(Boolean);
  assert.deepEqual(grants, ['refresh_token']);
});
